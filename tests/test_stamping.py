"""Fan-out by stamping: one render and read-back per group of objects, namespaces stamped in.

Every output is compared with the object-by-object path it replaces (`render.render_each`,
which renders and reads back each object), and with what a YAML parser reads from it.
"""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest
import yaml

from generator.app.pipeline import Request, Result, run
from generator.errors import GenSecretError
from generator.plan.namespaced import PerNamespace
from generator.render import stamping
from generator.render.stamping import STAMP_FROM, StampedText, stamp
from generator.render.templates import environment, render_each
from tests.conftest import FIXTURES, Cli

CLUSTERFILE = FIXTURES / "ha-auth-multidoc.yaml"
PULL = "pull-secrets.yaml"


def fan_out(tmp_path: Path, namespaces: list[str], **request: object) -> Result:
    listing = "".join(f"namespace/{n}\n" for n in namespaces)
    options = Request(pull_namespace_lists=((listing, "ns.txt"),), ca_root=tmp_path, **request)  # type: ignore[arg-type]
    return run(CLUSTERFILE.read_bytes(), "f", options)


def rows_of(result: Result) -> PerNamespace:
    (output,) = [f for f in result.context.files if f.path == PULL]
    assert isinstance(output.objects, PerNamespace)
    return output.objects


def test_ten_thousand_namespaces_stamped_are_the_object_by_object_render(tmp_path: Path) -> None:
    names = [f"ns-{i:05d}" for i in range(10_000)]
    result = fan_out(
        tmp_path,
        names,
        # The Secret's own namespace takes no pull copy; a namespace only patched takes no
        # ServiceAccounts: three groups of objects, each stamped from its own shape.
        pull_namespaces=("kube-system",),
        patches=("zz-only-patched/deploy/web",),
        service_accounts=("default", "builder"),
        keep_pull_secrets=("harbor",),
    )
    stamped = result.files[PULL]
    assert isinstance(stamped, StampedText), "10,000 namespaces were not stamped"
    text = str(stamped)
    assert text == render_each(rows_of(result)), "stamped text differs from the per-object path"
    assert stamped.byte_size == len(text.encode())
    assert "".join(p.decode() for p in stamped.byte_chunks()) == text
    # Pieces end where a namespace's objects end, so none is cut in the middle of a line.
    assert all(chunk.endswith("\n") for chunk in stamped.chunks())
    assert len(list(stamped.chunks())) > 1
    # Read back whole by the per-object path above; counted here by the line (a YAML parse
    # of 30,000 documents in pure Python takes longer than everything else in this file).
    assert text.count("  namespace: kube-system\n") == 2  # its ServiceAccounts, no copy
    assert text.count("  namespace: zz-only-patched\n") == 1  # its pull copy only
    assert text.count("  namespace: ns-04711\n") == 3
    assert text.count("\nkind: ServiceAccount\n") == 2 * 10_001


# Namespaces a YAML parser would read as something else, were they written bare; and the
# stand-ins themselves, which must come out like any other name.
HOSTILE = [
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf",
    "123", "0123", "0777", "0x1f", "0o17", "0b101", "1e3", "1-2", "2024-01-31", "1-1-1",
    "190-20-30", "0", "1234567890", "gen-secret-namespace-stand-in", "a", "z-9", "9-z",
    "x" * 63,
]  # fmt: skip


def test_hostile_namespace_like_names_read_back_as_themselves(tmp_path: Path) -> None:
    assert len(HOSTILE) >= STAMP_FROM
    result = fan_out(tmp_path, HOSTILE)
    stamped = result.files[PULL]
    assert isinstance(stamped, StampedText)
    text = str(stamped)
    assert text == render_each(rows_of(result))
    documents = list(yaml.safe_load_all(text))
    got = [(d["kind"], d["metadata"]["namespace"]) for d in documents]
    expected = [(kind, n) for n in sorted(HOSTILE) for kind in ("Secret", "ServiceAccount")]
    assert got == expected  # every one a string, equal to the name given, nothing added
    assert '  namespace: "true"\n' in text
    assert '  namespace: "2024-01-31"\n' in text
    assert "  namespace: gen-secret-namespace-stand-in\n" in text


@pytest.mark.parametrize(
    "line",
    [
        "a: b",
        '"quoted"',
        "{{ namespace }}",
        "team-a\\nkind: Secret",
        "UPPER",
        "under_score",
        "-leading",
        "trailing-",
        "dotted.name",
        "x" * 64,
        "naïve",
        "tab\there",
        "[list]",
        "&anchor",
        "*alias",
        "!tag",
    ],
)
def test_names_that_are_not_dns_labels_are_refused_before_any_output(
    cli: Cli, tmp_path: Path, line: str
) -> None:
    listing = tmp_path / "ns.txt"
    listing.write_text("".join(f"ok-{i}\n" for i in range(STAMP_FROM)) + line + "\n")
    out = tmp_path / "out"
    result = cli("render", str(CLUSTERFILE), "--pull-namespaces-from", str(listing))
    assert (result.code, result.out) == (1, "")
    assert f"({listing}:{STAMP_FROM + 1})" in result.err
    result = cli(
        "render", str(CLUSTERFILE), "--pull-namespaces-from", str(listing), "--out", str(out)
    )
    assert result.code == 1
    assert not out.exists()


@pytest.mark.parametrize("bad", ["a\nkind: Secret", "team-a # x", '"team-a"', "Team-A", ""])
def test_stamping_checks_each_namespace_itself(bad: str, tmp_path: Path) -> None:
    # Whatever its callers checked: the one read-back is sound only for DNS labels.
    rows = rows_of(fan_out(tmp_path, [f"ns-{i}" for i in range(STAMP_FROM)]))
    hostile = PerNamespace((*rows.namespaces, bad), rows.objects, rows.exceptions)
    with pytest.raises(GenSecretError, match="not a DNS label"):
        stamp(hostile)


def test_a_name_that_spells_the_stand_in_falls_back_to_each_object(tmp_path: Path) -> None:
    # The stand-in also occurs where the namespace is not: splitting there would put every
    # namespace into the name as well. The second stand-in's render tells, and the file is
    # rendered object by object, with the same bytes as ever.
    names = [f"ns-{i:03d}" for i in range(STAMP_FROM)]
    for option in ("name", "service_accounts", "keep_pull_secrets"):
        value = stamping.STAND_IN if option == "name" else (stamping.STAND_IN,)
        result = fan_out(tmp_path, names, **{option: value})
        text = result.files[PULL]
        assert isinstance(text, str), f"--{option} spelling the stand-in was stamped"
        assert text == render_each(rows_of(result))
        assert text.count(stamping.STAND_IN) == len(names) * (2 if option == "name" else 1)


def overlaid(**templates: str) -> jinja2.Environment:
    """The renderer's environment with some templates replaced, the rest as they are."""
    return environment().overlay(
        loader=jinja2.ChoiceLoader([jinja2.DictLoader(templates), environment().loader])
    )


SERVICE_ACCOUNT = (
    Path(__file__).parent.parent / "templates" / "serviceaccount.yaml.j2"
).read_text()


def test_a_template_that_writes_the_namespace_unquoted_is_not_stamped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As patch.yaml.j2 does in its comment: stamped, the bare name would come out quoted.
    changed = overlaid(
        **{"serviceaccount.yaml.j2": "# for {{ obj.namespace }}\n" + SERVICE_ACCOUNT}
    )
    rows = rows_of(fan_out(tmp_path, [f"ns-{i}" for i in range(STAMP_FROM)]))
    monkeypatch.setattr(stamping, "environment", lambda: changed)
    assert stamp(rows) is None


def test_a_shape_that_does_not_read_back_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = overlaid(
        **{"serviceaccount.yaml.j2": SERVICE_ACCOUNT + "automountServiceAccountToken: false\n"}
    )
    rows = rows_of(fan_out(tmp_path, [f"ns-{i}" for i in range(STAMP_FROM)]))
    monkeypatch.setattr(stamping, "environment", lambda: changed)
    with pytest.raises(GenSecretError, match="does not read back"):
        stamp(rows)


def test_the_stand_ins_are_one_bare_and_one_quoted_token() -> None:
    assert stamping.yaml_quote(stamping.STAND_IN) == stamping.STAND_IN
    assert stamping.yaml_quote(stamping.QUOTED_STAND_IN) == f'"{stamping.QUOTED_STAND_IN}"'


def test_few_namespaces_render_object_by_object(tmp_path: Path) -> None:
    result = fan_out(tmp_path, [f"ns-{i}" for i in range(STAMP_FROM - 1)])
    assert isinstance(result.files[PULL], str)


def test_stdout_streams_what_out_writes(cli: Cli, tmp_path: Path) -> None:
    listing = tmp_path / "ns.txt"
    listing.write_text("".join(f"team-{i:04d}\n" for i in range(2_000)))
    printed = cli("render", str(CLUSTERFILE), "--pull-namespaces-from", str(listing))
    out = tmp_path / "out"
    written = cli(
        "render", str(CLUSTERFILE), "--pull-namespaces-from", str(listing), "--out", str(out)
    )
    assert printed.code == written.code == 0
    files = [(out / name).read_text() for name in ("secret.yaml", PULL)]
    assert printed.out == "---\n".join(files)


def test_a_rerender_of_a_stamped_file_compares_it_piece_by_piece(cli: Cli, tmp_path: Path) -> None:
    listing = tmp_path / "ns.txt"
    listing.write_text("".join(f"team-{i:04d}\n" for i in range(2_000)))
    out = tmp_path / "out"
    args = ("render", str(CLUSTERFILE), "--pull-namespaces-from", str(listing), "--out", str(out))
    assert cli(*args).code == 0
    pull = out / PULL
    whole = pull.read_bytes()
    before = os.stat(pull)
    assert cli(*args).code == 0
    assert os.stat(pull).st_ino == before.st_ino, "an unchanged stamped file was rewritten"
    # One byte changed deep inside, the size the same: found, and the file written anew.
    middle = len(whole) * 2 // 3
    edited = (
        whole[:middle]
        + (b"X" if whole[middle : middle + 1] != b"X" else b"Y")
        + whole[middle + 1 :]
    )
    pull.write_bytes(edited)
    assert cli(*args).code == 0
    assert pull.read_bytes() == whole
    assert os.stat(pull).st_ino != before.st_ino
