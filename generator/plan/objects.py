"""The objects gen-secret renders, each with its template and the document it must read back as."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Labels = tuple[tuple[str, str], ...]


def metadata(name: str, namespace: str, labels: Labels) -> dict[str, Any]:
    """The `metadata` every rendered object reads back with."""
    return {"name": name, "namespace": namespace, "labels": dict(labels)}


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class SecretObject:
    """A Secret; every value of `data` is raw bytes, base64-encoded by the template."""

    TEMPLATE: ClassVar[str] = "secret.yaml.j2"

    name: str
    namespace: str
    labels: Labels
    data: tuple[tuple[str, bytes], ...] = field(repr=False)
    type: str = "kubernetes.io/dockerconfigjson"

    def expected(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata(self.name, self.namespace, self.labels),
            "type": self.type,
            "data": {key: base64.b64encode(raw).decode("ascii") for key, raw in self.data},
        }


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class ServiceAccountObject:
    """A whole ServiceAccount: its imagePullSecrets list is atomic, so it is written in full."""

    TEMPLATE: ClassVar[str] = "serviceaccount.yaml.j2"

    name: str
    namespace: str
    labels: Labels
    image_pull_secrets: tuple[str, ...]

    def expected(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(self.name, self.namespace, self.labels),
            "imagePullSecrets": [{"name": n} for n in self.image_pull_secrets],
        }


# kind (as users type it) -> (apiVersion, Kind, path from the object to its PodSpec)
WORKLOADS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "deployment": ("apps/v1", "Deployment", ("spec", "template", "spec")),
    "statefulset": ("apps/v1", "StatefulSet", ("spec", "template", "spec")),
    "daemonset": ("apps/v1", "DaemonSet", ("spec", "template", "spec")),
    "replicaset": ("apps/v1", "ReplicaSet", ("spec", "template", "spec")),
    "job": ("batch/v1", "Job", ("spec", "template", "spec")),
    "cronjob": ("batch/v1", "CronJob", ("spec", "jobTemplate", "spec", "template", "spec")),
    "pod": ("v1", "Pod", ("spec",)),
}


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class PatchObject:
    """A strategic-merge patch that adds the Secret to a workload's PodSpec.imagePullSecrets.

    That list merges by name, so entries the workload already has stay.
    """

    TEMPLATE: ClassVar[str] = "patch.yaml.j2"

    kind: str  # a key of WORKLOADS
    name: str
    namespace: str
    secret: str

    @property
    def api_version(self) -> str:
        return WORKLOADS[self.kind][0]

    @property
    def kind_name(self) -> str:
        return WORKLOADS[self.kind][1]

    @property
    def pod_spec_path(self) -> tuple[str, ...]:
        return WORKLOADS[self.kind][2]

    def expected(self) -> dict[str, Any]:
        pod_spec: dict[str, Any] = {"imagePullSecrets": [{"name": self.secret}]}
        for key in reversed(self.pod_spec_path):
            pod_spec = {key: pod_spec}
        return {
            "apiVersion": self.api_version,
            "kind": self.kind_name,
            "metadata": {"name": self.name, "namespace": self.namespace},
            **pod_spec,
        }


@dataclass(frozen=True)
class SealedSecretObject:
    """A Bitnami SealedSecret: a Secret's metadata and type in the clear, each value encrypted.

    `annotations` holds the scope annotation, which kubeseal writes both on the SealedSecret
    (the controller picks the decryption label from it) and in the template (a re-encrypt
    reads it from the unsealed Secret). `encrypted_data` is raw ciphertext, base64-encoded
    by the template.
    """

    TEMPLATE: ClassVar[str] = "sealedsecret.yaml.j2"

    name: str
    namespace: str
    labels: Labels
    annotations: Labels
    encrypted_data: tuple[tuple[str, bytes], ...] = field(repr=False)
    type: str = "kubernetes.io/dockerconfigjson"

    def expected(self) -> dict[str, Any]:
        meta = metadata(self.name, self.namespace, self.labels)
        if self.annotations:
            meta["annotations"] = dict(self.annotations)
        return {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": meta,
            "spec": {
                "template": {"metadata": dict(meta), "type": self.type},
                "encryptedData": {
                    key: base64.b64encode(raw).decode("ascii") for key, raw in self.encrypted_data
                },
            },
        }


SOPS_CRYPT_KEYS = ("encrypted_regex", "unencrypted_regex", "encrypted_suffix", "unencrypted_suffix")


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class SopsSecretObject:
    """A Secret as a SOPS file: its document with the values encrypted and the `sops` block."""

    TEMPLATE: ClassVar[str] = "sops-secret.yaml.j2"

    document: dict[str, Any] = field(repr=False)

    @property
    def crypt_key(self) -> str:
        return next(key for key in SOPS_CRYPT_KEYS if key in self.document["sops"])

    def expected(self) -> dict[str, Any]:
        return self.document


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class KeptSopsFile:
    """A SOPS file an earlier render wrote, whose values and recipients are still the same:
    written back as it was, so that neither its ciphertext nor its lastmodified changes."""

    TEMPLATE: ClassVar[str] = "kept-file.j2"

    text: str = field(repr=False)
    document: dict[str, Any] = field(repr=False)

    def expected(self) -> dict[str, Any]:
        return self.document


KubeObject = (
    SecretObject
    | SealedSecretObject
    | SopsSecretObject
    | KeptSopsFile
    | ServiceAccountObject
    | PatchObject
)


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class OutputFile:
    """One file of output: its objects, and whether kustomization.yaml lists it."""

    path: str
    # A tuple, or a PerNamespace that makes its objects only as they are needed.
    objects: Sequence[KubeObject]
    role: Literal["resource", "patch"] = "resource"
