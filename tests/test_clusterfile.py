"""The Clusterfile reader against sealer's decoder (FIELD-NOTES section 1), and auths ordering."""

from __future__ import annotations

import base64
import json
import textwrap

import pytest

from generator.errors import GenSecretError
from generator.model.clusterfile import Cluster, Credentials, RegistryEndpoint, read_clusterfile
from generator.model.dockerconfig import dockerconfigjson
from generator.plan.context import auths
from tests.conftest import FIXTURES

SOURCE = "Clusterfile"
HEAD = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata:
  name: unit
"""
# What sealer's decoder makes of a Cluster that names no registry at all.
SEALER_DEFAULT = RegistryEndpoint("local", "sea.hub", 5000, None, ha=True, insecure=False)


def text(body: str = "", head: str = HEAD) -> str:
    return head + textwrap.dedent(body)


def parse(body: str = "", head: str = HEAD) -> Cluster:
    return read_clusterfile(text(body, head).encode(), SOURCE)


def parse_fixture(name: str) -> Cluster:
    return read_clusterfile((FIXTURES / name).read_bytes(), name)


def line_of(document: str, marker: str) -> int:
    """The 1-based line of the one line that holds `marker`: expectations come from the text."""
    hits = [i for i, line in enumerate(document.splitlines(), 1) if marker in line]
    assert len(hits) == 1, f"marker {marker!r} is on {len(hits)} lines"
    return hits[0]


def error_of(document: str) -> str:
    with pytest.raises(GenSecretError) as caught:
        read_clusterfile(document.encode(), SOURCE)
    message = str(caught.value)
    assert "\n" not in message, "an error is one line"
    return message


def token(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


# --- defaults: sealer's checkAndFillCluster ---------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "",
        "spec: {}\n",
        "spec:\n  image: kubernetes:v1.22.15\n",
        "spec:\n  registry:\n",
        "spec:\n  registry: {}\n",
        "spec:\n  registry:\n    localRegistry: {}\n",
        "spec:\n  registry:\n    localRegistry:\n",
    ],
    ids=[
        "no-spec",
        "empty-spec",
        "no-registry",
        "null-registry",
        "empty-registry",
        "empty-local",
        "null-local",
    ],
)
def test_no_registry_means_local_with_sealer_defaults(body: str) -> None:
    cluster = parse(body)
    assert cluster.local == SEALER_DEFAULT
    assert cluster.external is None
    assert cluster.registry == SEALER_DEFAULT
    assert cluster.registry.url == "sea.hub:5000"
    assert cluster.registries == (SEALER_DEFAULT,)
    assert cluster.data_root == "/var/lib/sealer/data"
    assert cluster.warnings == ()


def test_local_fields_fill_in_missing_defaults_only() -> None:
    cluster = parse(
        """\
        spec:
          registry:
            localRegistry:
              domain: registry.lab.local
              insecure: true
        """
    )
    assert cluster.registry == RegistryEndpoint(
        "local", "registry.lab.local", 5000, None, ha=True, insecure=True
    )


def test_local_port_zero_is_go_zero_value_so_sealer_uses_5000() -> None:
    # Go cannot tell `port: 0` from no port: checkAndFillCluster sets 5000 for both.
    cluster = parse("spec:\n  registry:\n    localRegistry:\n      port: 0\n")
    assert cluster.registry.port == 5000
    assert cluster.registry.url == "sea.hub:5000"


def test_local_with_everything_set() -> None:
    cluster = parse(
        """\
        spec:
          dataRoot: /srv/sealer
          registry:
            localRegistry:
              domain: 10.0.0.11
              port: 8443
              username: admin
              password: "s3cret: yes"
              ha: false
              insecure: false
        """
    )
    assert cluster.data_root == "/srv/sealer"
    assert cluster.registry == RegistryEndpoint(
        "local", "10.0.0.11", 8443, Credentials("admin", "s3cret: yes"), ha=False, insecure=False
    )
    assert cluster.registry.url == "10.0.0.11:8443"


# --- external registry ------------------------------------------------------------------------


@pytest.mark.parametrize("port_line", ["", "      port: 0\n", "      port:\n"])
def test_external_without_port_has_the_bare_domain_as_url(port_line: str) -> None:
    cluster = parse(
        "spec:\n  registry:\n    externalRegistry:\n      domain: harbor.example.com\n" + port_line
    )
    assert cluster.local is None
    assert cluster.registry.role == "external"
    assert cluster.registry.domain == "harbor.example.com"
    assert cluster.registry.port is None
    assert cluster.registry.url == "harbor.example.com"


def test_external_with_port() -> None:
    cluster = parse(
        """\
        spec:
          registry:
            externalRegistry:
              domain: harbor.example.com
              port: 8443
              username: robot$ci
              password: t0ken
        """
    )
    assert cluster.registry == RegistryEndpoint(
        "external", "harbor.example.com", 8443, Credentials("robot$ci", "t0ken")
    )
    assert cluster.registry.url == "harbor.example.com:8443"


def test_external_fixture() -> None:
    cluster = parse_fixture("external-registry.yaml")
    assert cluster.registries == (
        RegistryEndpoint(
            "external", "harbor.example.com", None, Credentials("robot$ci", "hArb0r-t0ken")
        ),
    )


@pytest.mark.parametrize("domain_line", ["", "      domain: ''\n", "      domain:\n"])
def test_external_needs_a_domain(domain_line: str) -> None:
    document = text("spec:\n  registry:\n    externalRegistry:\n      port: 443\n" + domain_line)
    message = error_of(document)
    assert message.startswith("external registry domain can not be empty (")
    assert "spec.registry.externalRegistry" in message


# --- both registries --------------------------------------------------------------------------

BOTH = """\
spec:
  registry:
    localRegistry:
      domain: sea.hub
      port: 5000
      username: local-user
      password: local-pass
    externalRegistry:
      domain: harbor.example.com
{external}
"""


def test_both_registries_secret_describes_the_local_one_and_auths_hold_both() -> None:
    cluster = parse(BOTH.format(external="      username: robot\n      password: ext-pass"))
    assert cluster.registry.role == "local"
    assert cluster.registry.url == "sea.hub:5000"
    assert cluster.external is not None
    assert cluster.external.url == "harbor.example.com"
    entries = auths(cluster, cluster.registry)
    assert entries == {
        "sea.hub:5000": Credentials("local-user", "local-pass"),
        "harbor.example.com": Credentials("robot", "ext-pass"),
    }
    expected = (
        '{"auths":{'
        '"harbor.example.com":{"username":"robot","password":"ext-pass","auth":"'
        + token("robot", "ext-pass")
        + '"},"sea.hub:5000":{"username":"local-user","password":"local-pass","auth":"'
        + token("local-user", "local-pass")
        + '"}}}'
    )
    assert dockerconfigjson(entries).decode() == expected, "auths differ"


def test_external_without_credentials_stays_out_of_auths() -> None:
    cluster = parse(BOTH.format(external="      port: 443"))
    assert auths(cluster, cluster.registry) == {
        "sea.hub:5000": Credentials("local-user", "local-pass")
    }


def test_local_without_credentials_keeps_its_empty_entry_beside_the_external() -> None:
    cluster = parse(
        """\
        spec:
          registry:
            localRegistry: {}
            externalRegistry:
              domain: harbor.example.com
              username: robot
              password: ext-pass
        """
    )
    assert cluster.local == SEALER_DEFAULT
    assert cluster.registry == SEALER_DEFAULT
    assert auths(cluster, cluster.registry) == {
        "harbor.example.com": Credentials("robot", "ext-pass"),
        "sea.hub:5000": None,
    }


# --- legacy sealer.aliyun.com/v1alpha1 --------------------------------------------------------

LEGACY = """\
apiVersion: sealer.aliyun.com/v1alpha1
kind: Cluster
metadata:
  name: legacy
spec:
  image: kubernetes:v1.19.8
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Config
metadata:
  name: registry_passwd
spec:
  path: etc/registry.yml
  data: |
    domain: {domain}
    port: {port}
    username: sealerUser
    password: sealerPWD
"""


def test_legacy_fixture_takes_the_registry_from_the_config_document() -> None:
    cluster = parse_fixture("legacy-v1alpha1.yaml")
    assert cluster.api_version == "sealer.aliyun.com/v1alpha1"
    assert cluster.name == "legacy"
    # sealer 0.8 ran one registry, on the first master: no HA.
    assert cluster.registry == RegistryEndpoint(
        "local", "sea.hub", 5000, Credentials("sealerUser", "sealerPWD"), ha=False
    )
    assert cluster.era == "legacy"
    assert cluster.warnings == ()


@pytest.mark.parametrize("port", ['"5443"', "5443", "'5443'"])
def test_legacy_port_quoted_or_not(port: str) -> None:
    document = LEGACY.format(domain="hub.legacy.local", port=port)
    cluster = read_clusterfile(document.encode(), SOURCE)
    assert cluster.registry.url == "hub.legacy.local:5443"
    assert cluster.registry.credentials == Credentials("sealerUser", "sealerPWD")


def test_legacy_bad_port_points_into_the_outer_file() -> None:
    document = LEGACY.format(domain="sea.hub", port='"50a0"')
    message = error_of(document)
    assert message.endswith(f"(port at {SOURCE}:{line_of(document, '50a0')})")


@pytest.mark.parametrize("port", ['"\u00b2"', '"\u0665\u0660\u0660\u0660"', '" 5000"'])
def test_legacy_port_must_be_ascii_digits(port: str) -> None:
    document = LEGACY.format(domain="sea.hub", port=port)
    message = error_of(document)
    assert message.startswith("must be a number, not a string")
    assert message.endswith(f"(port at {SOURCE}:{line_of(document, 'port: ')})")


def test_legacy_era_ignores_spec_registry_with_a_warning() -> None:
    # sealer 0.8 had no spec.registry: a legacy Cluster that sets one still gets registry.yml.
    document = LEGACY.format(domain="old.hub", port="5000").replace(
        "  image: kubernetes:v1.19.8\n",
        "  registry:\n    localRegistry:\n      domain: new.hub\n",
    )
    cluster = read_clusterfile(document.encode(), SOURCE)
    assert cluster.registry.domain == "old.hub"
    assert cluster.registry.ha is False
    assert any("spec.registry is ignored" in w for w in cluster.warnings)


def test_current_era_ignores_the_legacy_config_with_a_warning() -> None:
    # sealer 0.9 and later never read etc/registry.yml, with or without a spec.registry.
    document = LEGACY.format(domain="old.hub", port="5000").replace(
        "sealer.aliyun.com/v1alpha1", "sealer.io/v2"
    )
    cluster = read_clusterfile(document.encode(), SOURCE)
    assert cluster.registry == SEALER_DEFAULT
    assert any("etc/registry.yml" in w and "0.9" in w for w in cluster.warnings)


# --- ConfigMap wrapper ------------------------------------------------------------------------


def test_configmap_fixture_unwraps_to_the_same_cluster_as_the_file_itself() -> None:
    wrapped = read_clusterfile((FIXTURES / "configmap-sealer-clusterfile.yaml").read_bytes(), "x")
    plain = read_clusterfile((FIXTURES / "ha-auth-multidoc.yaml").read_bytes(), "x")
    assert wrapped == plain
    assert wrapped.name == "prod-east"
    assert wrapped.registry.credentials == Credentials("sealer", "Sealer#2024:pw")


CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: sealer-clusterfile
  namespace: kube-system
data:
  Clusterfile: |
    apiVersion: sealer.io/v2
    kind: Cluster
    metadata:
      name: wrapped
    spec:
      registry:
        localRegistry:
          pasword: typo
          port: "5000x"
"""


def test_configmap_error_lines_point_into_the_outer_file() -> None:
    message = error_of(CONFIGMAP)
    line = line_of(CONFIGMAP, "5000x")
    assert message.endswith(f"(spec.registry.localRegistry.port at {SOURCE}:{line})")


def test_configmap_warning_lines_point_into_the_outer_file() -> None:
    document = CONFIGMAP.replace('          port: "5000x"\n', "")
    cluster = read_clusterfile(document.encode(), SOURCE)
    line = line_of(document, "pasword")
    assert cluster.warnings == (
        f"unknown field, ignored (spec.registry.localRegistry.pasword at {SOURCE}:{line})",
    )


def test_configmap_without_clusterfile_key_is_an_error() -> None:
    document = CONFIGMAP.replace("  Clusterfile: |", "  Other: |")
    assert "data.Clusterfile" in error_of(document)


# --- multi-document ---------------------------------------------------------------------------


def test_multidoc_fixture_reads_only_the_cluster() -> None:
    cluster = parse_fixture("ha-auth-multidoc.yaml")
    assert cluster.name == "prod-east"
    assert cluster.registry == RegistryEndpoint(
        "local",
        "sea.hub",
        5000,
        Credentials("sealer", "Sealer#2024:pw"),
        ha=True,
        insecure=False,
        san_dns_names=("registry.prod-east.internal",),
        san_ips=("10.0.0.11",),
    )
    assert cluster.warnings == ()


OTHER_KINDS = """\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
port: not-a-number
registry: {localRegistry: {domain: "not the cluster's"}}
---
apiVersion: sealer.io/v1
kind: Config
metadata:
  name: not-the-registry
spec:
  path: etc/other.yml
  data: "port: [unclosed"
---
apiVersion: sealer.io/v2
kind: Application
metadata:
  name: apps
spec:
  registry: 7
---
---
apiVersion: sealer.io/v2
kind: Cluster
metadata:
  name: among-others
spec:
  registry:
    localRegistry:
      domain: hub.among.others
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
spec: {registry: {externalRegistry: {domain: ""}}}
---
kind: SomethingNew
spec: []
"""


def test_other_kinds_are_ignored_wherever_they_stand() -> None:
    cluster = read_clusterfile(OTHER_KINDS.encode(), SOURCE)
    assert cluster.name == "among-others"
    assert cluster.registries == (
        RegistryEndpoint("local", "hub.among.others", 5000, None, ha=True, insecure=False),
    )
    assert cluster.warnings == ()


def test_two_clusters_the_last_wins_and_a_note_names_it() -> None:
    document = HEAD + "---\n" + HEAD.replace("unit", "again")
    cluster = read_clusterfile(document.encode(), SOURCE)
    assert cluster.name == "again"
    assert cluster.notes == (
        "2 Cluster documents: using Cluster 'again' (the last, as sealer 0.9 does); "
        "the others are ignored (--cluster NAME picks one)",
    )


def test_no_cluster_is_an_error() -> None:
    assert "no kind: Cluster" in error_of("apiVersion: v1\nkind: Config\n")


# --- spec.env against spec.registry -----------------------------------------------------------


def test_seed_fixture_env_agrees_so_no_warning() -> None:
    assert parse_fixture("seed-clusterfile.yaml").warnings == ()


def test_env_disagreement_warns_with_its_location() -> None:
    body = """\
    spec:
      env:
      - HELLO=world
      - LocalRegistryPort=5001
      - LocalRegistryDomain=sea.hub
      registry:
        localRegistry:
          domain: sea.hub
    """
    document = text(body)
    cluster = read_clusterfile(document.encode(), SOURCE)
    assert cluster.registry.port == 5000, "spec.registry is the truth"
    (warning,) = cluster.warnings
    assert "LocalRegistryPort=5001" in warning
    assert "5000" in warning
    assert warning.endswith(f"(spec.env[1] at {SOURCE}:{line_of(document, '5001')})")


def test_env_disagreement_warns_without_spec_registry() -> None:
    cluster = parse("spec:\n  env: [LocalRegistryURL=other.hub:5000]\n")
    (warning,) = cluster.warnings
    assert "LocalRegistryURL" in warning
    assert "spec.env[0]" in warning


def test_env_as_sealer_writes_it_for_an_external_registry_without_port() -> None:
    # checkAndFillCluster formats ExternalRegistryPort with %d (so "0") and RegistryPort as "".
    cluster = parse(
        """\
        spec:
          env:
          - ExternalRegistryDomain=harbor.example.com
          - ExternalRegistryPort=0
          - ExternalRegistryURL=harbor.example.com
          - RegistryDomain=harbor.example.com
          - RegistryPort=
          - RegistryURL=harbor.example.com
          registry:
            externalRegistry:
              domain: harbor.example.com
        """
    )
    assert cluster.warnings == ()


def test_generic_registry_env_takes_the_external_when_both_are_set() -> None:
    both = BOTH.format(external="      port: 443")
    agrees = parse(both + "  env: [RegistryURL=harbor.example.com:443, LocalRegistryPort=5000]\n")
    assert agrees.warnings == ()
    disagrees = parse(both + "  env: [RegistryURL=sea.hub:5000]\n")
    (warning,) = disagrees.warnings
    assert "RegistryURL=sea.hub:5000" in warning
    assert "harbor.example.com:443" in warning


# --- unknown fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "typo"),
    [("localRegistry", "pasword"), ("externalRegistry", "usrname")],
)
def test_unknown_registry_field_warns_without_its_value(section: str, typo: str) -> None:
    body = f"""\
    spec:
      registry:
        {section}:
          domain: hub.example.com
          username: someone
          {typo}: hunter2-value
    """
    document = text(body)
    cluster = read_clusterfile(document.encode(), SOURCE)
    line = line_of(document, typo)
    assert cluster.warnings == (
        f"unknown field, ignored (spec.registry.{section}.{typo} at {SOURCE}:{line})",
    )


def test_unknown_field_in_spec_registry_warns() -> None:
    # A typo in the section name silently drops every setting below it; sealer would too.
    body = """\
    spec:
      registry:
        localRegistery:
          domain: hub.example.com
    """
    document = text(body)
    cluster = read_clusterfile(document.encode(), SOURCE)
    line = line_of(document, "localRegistery")
    assert cluster.registry == SEALER_DEFAULT
    assert cluster.warnings == (
        f"unknown field, ignored (spec.registry.localRegistery at {SOURCE}:{line})",
    )


def test_field_names_match_ignoring_case_as_go_json_does() -> None:
    # sealer's JSON decoder takes `localregistry` for localRegistry: no typo, no warning.
    body = """\
    spec:
      registry:
        localregistry:
          Domain: hub.example.com
    """
    cluster = parse(body)
    assert cluster.registry.domain == "hub.example.com"
    assert cluster.warnings == ()


# --- errors: what and where -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_yaml", "path", "what"),
    [
        ('port: "5000"', "spec.registry.localRegistry.port", "must be a number"),
        ("port: 70000", "spec.registry.localRegistry.port", "between 1 and 65535"),
        ("port: true", "spec.registry.localRegistry.port", "must be a number"),
        ('ha: "yes"', "spec.registry.localRegistry.ha", "must be true or false"),
        ("insecure: 1", "spec.registry.localRegistry.insecure", "must be true or false"),
        ("domain: 42", "spec.registry.localRegistry.domain", "must be a string"),
        ("domain: https://sea.hub", "spec.registry.localRegistry.domain", "scheme"),
        ("domain: sea.hub:5000", "spec.registry.localRegistry.domain", "port"),
        ("username: a:b", "spec.registry.localRegistry.username", "':'"),
        ("password: 0123", "spec.registry.localRegistry.password", "must be a string"),
        ("cert: []", "spec.registry.localRegistry.cert", "must be a mapping"),
        # An explicit tag on a value it cannot read: PyYAML fails with KeyError, IndexError
        # or AttributeError, never a message.
        ("ha: !!bool maybe", "spec.registry.localRegistry.ha", "not a valid bool"),
        ('ha: !!bool ""', "spec.registry.localRegistry.ha", "not a valid bool"),
        ('port: !!int ""', "spec.registry.localRegistry.port", "not a valid int"),
        ('port: !!float ""', "spec.registry.localRegistry.port", "not a valid float"),
        ("port: !!timestamp nope", "spec.registry.localRegistry.port", "not a valid timestamp"),
        (
            "cert: {subjectAltName: {dnsNames: a.example}}",
            "spec.registry.localRegistry.cert.subjectAltName.dnsNames",
            "must be a list",
        ),
    ],
)
def test_type_errors_name_field_and_line(field_yaml: str, path: str, what: str) -> None:
    document = text(
        f"spec:\n  registry:\n    localRegistry:\n      domain: ok.hub\n      {field_yaml}\n"
    )
    if field_yaml.startswith("domain"):
        document = document.replace("      domain: ok.hub\n", "")
    message = error_of(document)
    assert what in message
    assert message.endswith(f"({path} at {SOURCE}:{line_of(document, field_yaml)})")


def test_password_error_never_echoes_the_value() -> None:
    # YAML 1.1 reads 0123 as the octal number 83: neither spelling may reach the message.
    message = error_of(text("spec:\n  registry:\n    localRegistry:\n      password: 0123\n"))
    assert "0123" not in message
    assert "83" not in message


def test_registry_section_of_wrong_type() -> None:
    document = text("spec:\n  registry: [sea.hub]\n")
    message = error_of(document)
    assert "must be a mapping" in message
    assert message.endswith(f"(spec.registry at {SOURCE}:{line_of(document, 'registry:')})")


def test_san_ip_that_is_not_an_ip() -> None:
    document = text(
        """\
        spec:
          registry:
            localRegistry:
              cert:
                subjectAltName:
                  ips:
                  - 10.0.0.1
                  - 10.0.0.300
        """
    )
    message = error_of(document)
    path = "spec.registry.localRegistry.cert.subjectAltName.ips[1]"
    assert message.endswith(f"({path} at {SOURCE}:{line_of(document, '10.0.0.300')})")


# --- cert SANs --------------------------------------------------------------------------------


def test_cert_sans_are_parsed_in_order() -> None:
    cluster = parse(
        """\
        spec:
          registry:
            localRegistry:
              domain: sea.hub
              cert:
                subjectAltName:
                  dnsNames: [registry.internal, hub.internal]
                  ips: [10.0.0.11, "fd00::11"]
        """
    )
    assert cluster.registry.san_dns_names == ("registry.internal", "hub.internal")
    assert cluster.registry.san_ips == ("10.0.0.11", "fd00::11")


def test_wildcard_san_is_accepted() -> None:
    # A certificate's DNS SAN may be a wildcard, and sealer passes dnsNames through unchecked.
    cluster = parse(
        """\
        spec:
          registry:
            localRegistry:
              cert:
                subjectAltName:
                  dnsNames: ["*.hub.internal"]
        """
    )
    assert cluster.registry.san_dns_names == ("*.hub.internal",)


def test_san_wildcard_only_in_the_first_label() -> None:
    document = text(
        "spec:\n  registry:\n    localRegistry:\n      cert:\n"
        "        subjectAltName:\n          dnsNames: [hub.*.internal]\n"
    )
    assert "dnsNames[0]" in error_of(document)


# --- dockerconfig: ordering and empty entries -------------------------------------------------


def test_dockerconfig_sorts_registries_by_key() -> None:
    # Inserted in reverse: Go's json.Marshal sorts map keys, so kubectl's bytes are sorted.
    entries = {
        "zeta.example.com": Credentials("z", "zp"),
        "alpha.example.com:5000": Credentials("a", "ap"),
    }
    assert list(entries) != sorted(entries)
    assert (
        dockerconfigjson(entries)
        == (
            '{"auths":{"alpha.example.com:5000":{"username":"a","password":"ap","auth":"'
            + token("a", "ap")
            + '"},"zeta.example.com":{"username":"z","password":"zp","auth":"'
            + token("z", "zp")
            + '"}}}'
        ).encode()
    )


def test_dockerconfig_registry_without_credentials_is_an_empty_entry() -> None:
    raw = dockerconfigjson({"sea.hub:5000": None})
    assert raw == b'{"auths":{"sea.hub:5000":{}}}'
    assert json.loads(raw) == {"auths": {"sea.hub:5000": {}}}


def test_dockerconfig_mixed_entries() -> None:
    raw = dockerconfigjson({"sea.hub:5000": None, "harbor.example.com": Credentials("r", "p")})
    expected = {
        "auths": {
            "harbor.example.com": {"username": "r", "password": "p", "auth": token("r", "p")},
            "sea.hub:5000": {},
        }
    }
    assert json.loads(raw) == expected
    assert list(json.loads(raw)["auths"]) == ["harbor.example.com", "sea.hub:5000"]


@pytest.mark.parametrize("port", ["5:00", "83:20", "1:23:20.5"])
def test_a_base_60_number_is_text_as_to_sealer_not_a_port(port: str) -> None:
    # YAML 1.1 (PyYAML) reads 83:20 as 5000; sealer's go-yaml has no base 60, so it is a string
    # there, and sealer refuses it as a port.
    with pytest.raises(GenSecretError) as caught:
        parse(f"spec:\n  registry:\n    localRegistry:\n      port: {port}\n")
    assert str(caught.value).startswith("must be a number, not a string")
    assert "spec.registry.localRegistry.port" in str(caught.value)


def test_a_base_60_password_stays_the_text_written() -> None:
    cluster = parse(
        "spec:\n  registry:\n    localRegistry:\n      username: u\n      password: 12:30\n"
    )
    assert cluster.registry.credentials == Credentials("u", "12:30")
