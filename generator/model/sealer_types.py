"""sealer's API types, field by field, for each era of sealer that wrote Clusterfiles.

Read from sealer's source: `types/api/v1` and `types/api/v2` at v0.8.6 (the last of the
`sealer.aliyun.com` era) and on main (0.9 and later), and the kinds its decoders switch on
(`utils/decode.go` at v0.8.6, `pkg/clusterfile/decoder.go` on main). Only the types matter:
sealer rejects a file whose fields do not fit them, and ignores fields it does not know.
"""

from __future__ import annotations

from generator.model.godecode import (
    ANYTHING,
    BOOLEAN,
    INHERITED_STRING,
    NUMBER,
    STRING,
    GoType,
    IPAddress,
    ListOf,
    MapOf,
    Struct,
    Timestamp,
)

STRINGS = ListOf(STRING)
_LABELS = MapOf(STRING)

TYPE_META = Struct({"apiVersion": STRING, "kind": STRING})

# metav1.ObjectMeta (apimachinery v0.24): the fields a hand-written file may hold.
OBJECT_META = Struct(
    {
        "name": STRING,
        "generateName": STRING,
        "namespace": STRING,
        "selfLink": STRING,
        "uid": STRING,
        "resourceVersion": STRING,
        "generation": NUMBER,
        "creationTimestamp": Timestamp(),
        "deletionTimestamp": Timestamp(),
        "deletionGracePeriodSeconds": NUMBER,
        "labels": _LABELS,
        "annotations": _LABELS,
        "ownerReferences": ListOf(
            Struct(
                {
                    "apiVersion": STRING,
                    "kind": STRING,
                    "name": STRING,
                    "uid": STRING,
                    "controller": BOOLEAN,
                    "blockOwnerDeletion": BOOLEAN,
                }
            )
        ),
        "finalizers": STRINGS,
        "clusterName": STRING,
        "managedFields": ListOf(ANYTHING),
    }
)


def _object(spec: Struct) -> Struct:
    """A Kubernetes-style object: TypeMeta inline, metadata, spec, and an empty status."""
    return Struct({**TYPE_META.fields, "metadata": OBJECT_META, "spec": spec, "status": Struct({})})


SSH = Struct(
    {
        "encrypted": BOOLEAN,
        "user": STRING,
        "passwd": STRING,
        "pk": STRING,
        "pkPasswd": STRING,
        "port": STRING,
    }
)
_IPS = ListOf(IPAddress())

# zlink.aliyun.com/v1alpha1, read by sealer <= 0.8 in this shape (v1.Cluster).
_V1_HOSTS = Struct(
    {
        "cpu": STRING,
        "memory": STRING,
        "count": STRING,
        "systemDisk": STRING,
        "dataDisks": STRINGS,
        "ipList": _IPS,
    }
)
CLUSTER_V1 = _object(
    Struct(
        {
            "image": STRING,
            "env": STRINGS,
            "provider": STRING,
            "ssh": SSH,
            "network": Struct({"podCIDR": STRING, "svcCIDR": STRING}),
            "certSANS": STRINGS,
            "masters": _V1_HOSTS,
            "nodes": _V1_HOSTS,
        }
    )
)

# Every other apiVersion, as sealer <= 0.8 read it (v2.Cluster at v0.8.6): no registry yet.
CLUSTER_V2_LEGACY = _object(
    Struct(
        {
            "image": STRING,
            "env": STRINGS,
            "cmd_args": STRINGS,
            "cmd": STRINGS,
            "hosts": ListOf(Struct({"ips": _IPS, "roles": STRINGS, "ssh": SSH, "env": STRINGS})),
            "ssh": SSH,
        }
    )
)

# sealer >= 0.9 (v2.Cluster on main). Domain, port, username and password come from the
# embedded RegistryConfig, so sigs.k8s.io/yaml does not turn numbers into text for them.
_REGISTRY_CONFIG: dict[str, GoType] = {
    "domain": INHERITED_STRING,
    "port": NUMBER,
    "username": INHERITED_STRING,
    "password": INHERITED_STRING,
}
LOCAL_REGISTRY = Struct(
    {
        **_REGISTRY_CONFIG,
        "ha": BOOLEAN,
        "insecure": BOOLEAN,
        "cert": Struct({"subjectAltName": Struct({"dnsNames": STRINGS, "ips": STRINGS})}),
    }
)
EXTERNAL_REGISTRY = Struct(_REGISTRY_CONFIG)
CLUSTER_V2 = _object(
    Struct(
        {
            "image": STRING,
            "env": STRINGS,
            "cmd_args": STRINGS,
            "cmd": STRINGS,
            "appNames": STRINGS,
            "hosts": ListOf(
                Struct(
                    {
                        "ips": _IPS,
                        "roles": STRINGS,
                        "ssh": SSH,
                        "env": STRINGS,
                        "labels": _LABELS,
                        "taints": STRINGS,
                    }
                )
            ),
            "ssh": SSH,
            "containerRuntime": Struct({"type": STRING}),
            "hostAliases": ListOf(Struct({"ip": STRING, "hostnames": STRINGS})),
            "registry": Struct(
                {"localRegistry": LOCAL_REGISTRY, "externalRegistry": EXTERNAL_REGISTRY}
            ),
            "dataRoot": STRING,
        }
    )
)

CONFIG = _object(
    Struct(
        {
            "strategy": STRING,
            "process": STRING,
            "data": STRING,
            "appName": STRING,
            "path": STRING,
        }
    )
)
PLUGIN = _object(
    Struct({"type": STRING, "data": STRING, "action": STRING, "scope": STRING, "on": STRING})
)
APPLICATION = _object(
    Struct(
        {
            "cmds": STRINGS,
            "launchApps": STRINGS,
            "configs": ListOf(
                Struct(
                    {
                        "name": STRING,
                        "env": STRINGS,
                        "files": ListOf(
                            Struct({"path": STRING, "strategy": STRING, "data": STRING})
                        ),
                        "launch": Struct({"cmds": STRINGS}),
                    }
                )
            ),
        }
    )
)

# The etc/registry.yml that sealer <= 0.8 read from a Config (runtime.RegistryConfig).
LEGACY_REGISTRY_FILE = Struct(
    {
        "ip": IPAddress(),
        "domain": STRING,
        "port": STRING,
        "username": STRING,
        "password": STRING,
    }
)

# kubeadm, kubelet and kube-proxy configurations: sealer decodes them too, into types far too
# large to model; a document of these kinds must at least be a mapping.
KUBE_CONFIG_KINDS = frozenset(
    {
        "InitConfiguration",
        "JoinConfiguration",
        "ClusterConfiguration",
        "KubeletConfiguration",
        "KubeProxyConfiguration",
    }
)
