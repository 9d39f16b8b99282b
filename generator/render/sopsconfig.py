"""`.sops.yaml` creation rules, read as sops reads them (getsops/sops `config/config.go`).

The first rule whose `path_regex` finds a match in the file's path wins (a rule without one
matches every file). The path is absolute, except that the folder holding the config file and
its `/` are cut from its front, so rules are written relative to the config file. A rule names
its recipients in `age` (a comma-separated string or a list) or in a single `key_groups` group.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from generator.errors import GenSecretError, Location
from generator.model.safeyaml import Document, load_all

CONFIG_NAME = ".sops.yaml"
# Key kinds sops knows besides age; gen-secret can encrypt for none of them offline.
OTHER_KEYS = ("pgp", "kms", "gcp_kms", "hckms", "azure_keyvault", "hc_vault_transit_uri")
_GROUP_OTHER_KEYS = ("pgp", "kms", "gcp_kms", "hckms", "azure_keyvault", "hc_vault")
_CRYPT_KEYS = ("encrypted_regex", "unencrypted_regex", "encrypted_suffix", "unencrypted_suffix")
# Rules that would make the values readable, or a MAC that sops's own tests call optional.
_UNSUPPORTED = ("encrypted_comment_regex", "unencrypted_comment_regex", "mac_only_encrypted")


DEFAULT_REGEX = "^(data|stringData)$"


@dataclass(frozen=True)
class CryptRule:
    """Which values sops encrypts: one of its four key rules, as the file's metadata names it."""

    key: str = "encrypted_regex"  # or unencrypted_regex, encrypted_suffix, unencrypted_suffix
    value: str = DEFAULT_REGEX

    def encrypts(self, path: Sequence[str]) -> bool:
        """sops's shouldBeEncrypted for one of the key rules: any key on the path decides."""
        if self.key == "encrypted_regex":
            return any(re.search(self.value, part) for part in path)
        if self.key == "unencrypted_regex":
            return not any(re.search(self.value, part) for part in path)
        if self.key == "encrypted_suffix":
            return any(part.endswith(self.value) for part in path)
        return not any(part.endswith(self.value) for part in path)


def check_recipient(text: str, where: str) -> str:
    """An age X25519 public key, `age1...`, checked by pyrage; the value is never echoed, since
    a secret key pasted by mistake would land in a CI log."""
    import pyrage

    recipient = text.strip()
    if recipient.upper().startswith("AGE-SECRET-KEY-"):
        raise GenSecretError(
            "this is an age secret key, not a recipient: give its public key "
            "(`age-keygen -y KEYFILE` prints it), and keep the secret key out of the command line",
            where,
        )
    try:
        pyrage.x25519.Recipient.from_str(recipient)
    except (pyrage.RecipientError, ValueError):
        raise GenSecretError(
            "not an age X25519 public key (age1..., as `age-keygen` prints it)", where
        ) from None
    return recipient


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class CreationRule:
    """One entry of `creation_rules`, checked; its age recipients are checked when it is used."""

    number: int  # from 1, as users count
    where: Location
    path_regex: str | None
    age: tuple[str, ...]
    others: tuple[str, ...]  # other key kinds it names (pgp, kms, ...)
    crypt: CryptRule
    age_where: Location


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Rule:
    """The rule that matched a file: its recipients, its crypt rule, warnings about it."""

    recipients: tuple[str, ...]
    crypt: CryptRule
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class SopsConfig:
    """A parsed `.sops.yaml`: where it lies (an absolute folder) and its creation rules."""

    source: str
    directory: str
    rules: tuple[CreationRule, ...]

    def rule_for(self, path: str) -> Rule:
        """The rule for a file at this absolute path; no rule, or no age key, is an error."""
        relative = path.removeprefix(self.directory.rstrip("/") + "/")
        for rule in self.rules:
            if rule.path_regex is None or re.search(rule.path_regex, relative):
                return self._use(rule, relative)
        raise GenSecretError(
            f"no creation rule matches {relative}; add one whose path_regex does, or give "
            "--sops-age",
            self.source,
        )

    def _use(self, rule: CreationRule, relative: str) -> Rule:
        named = f"creation rule {rule.number}"
        if not rule.age:
            kinds = " and ".join(rule.others) or "no"
            raise GenSecretError(
                f"{named}, which matches {relative}, has {kinds} keys but no age key; "
                "gen-secret encrypts offline for age recipients only",
                rule.where,
            )
        recipients = tuple(
            dict.fromkeys(
                check_recipient(text, f"{named}, age key {n} ({rule.age_where})")
                for n, text in enumerate(rule.age, 1)
            )
        )
        warnings: tuple[str, ...] = ()
        if rule.others:
            warnings = (
                f"{self.source}: {named} also names {' and '.join(rule.others)} keys; "
                "gen-secret encrypts for its age keys only (`sops updatekeys FILE` adds the "
                "others)",
            )
        return Rule(recipients, rule.crypt, warnings)


def parse(text: str, source: str, directory: str) -> SopsConfig:
    """Read `.sops.yaml` text; anything sops would refuse, or gen-secret cannot do, is an
    error that names the field and line."""
    documents = load_all(text, source)
    document = documents[0] if documents else Document({}, source, {})
    top = document.value
    if not isinstance(top, dict):
        raise GenSecretError("must be a mapping with creation_rules", document.where(()))
    rules = top.get("creation_rules")
    if not rules:
        raise GenSecretError(
            "has no creation_rules to choose age recipients; add one, or give --sops-age",
            document.where(()),
        )
    if not isinstance(rules, list):
        raise GenSecretError("must be a list of rules", document.where(("creation_rules",)))
    parsed = tuple(_rule(document, rule, n) for n, rule in enumerate(rules))
    return SopsConfig(source, directory, parsed)


def _rule(document: Document, rule: Any, index: int) -> CreationRule:
    path = ("creation_rules", index)
    where = document.where(path)
    if not isinstance(rule, dict):
        raise GenSecretError("must be a mapping", where)
    for key in _UNSUPPORTED:
        if rule.get(key):
            raise GenSecretError(
                "is not supported by gen-secret; use encrypted_regex", document.where((*path, key))
            )
    regex = rule.get("path_regex")
    if regex is not None:
        if not isinstance(regex, str):
            raise GenSecretError("must be a string", document.where((*path, "path_regex")))
        try:
            re.compile(regex)
        except re.error as exc:
            raise GenSecretError(
                f"is not a valid regular expression: {exc.msg}",
                document.where((*path, "path_regex")),
            ) from None
    crypt = _crypt(document, rule, path)
    if "key_groups" in rule:
        age, others, age_path = _key_groups(document, rule["key_groups"], (*path, "key_groups"))
    else:
        age = _keys(document, rule.get("age"), (*path, "age"))
        others = tuple(kind for kind in OTHER_KEYS if rule.get(kind))
        age_path = (*path, "age")
    return CreationRule(
        index + 1, where, regex or None, age, others, crypt, document.where(age_path)
    )


def _crypt(document: Document, rule: dict[str, Any], path: tuple[str | int, ...]) -> CryptRule:
    """The rule's one crypt rule; without one, only data and stringData are encrypted.

    sops would encrypt every value then, apiVersion and metadata too, which neither kubectl,
    kustomize nor Flux can read.
    """
    given = [key for key in _CRYPT_KEYS if rule.get(key)]
    if len(given) > 1:
        raise GenSecretError(
            f"sets both {given[0]} and {given[1]}; sops allows one of them",
            document.where(path),
        )
    if not given:
        return CryptRule()
    value = rule[given[0]]
    if not isinstance(value, str):
        raise GenSecretError("must be a string", document.where((*path, given[0])))
    if given[0].endswith("regex"):
        try:
            re.compile(value)
        except re.error as exc:
            raise GenSecretError(
                f"is not a valid regular expression: {exc.msg}", document.where((*path, given[0]))
            ) from None
    return CryptRule(given[0], value)


def _keys(document: Document, value: Any, path: tuple[str | int, ...]) -> tuple[str, ...]:
    """sops's parseKeyField: a comma-separated string, or a list of strings (each may hold
    several, comma-separated); blanks dropped."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise GenSecretError("must be a string or a list of strings", document.where(path))
    return tuple(part.strip() for item in items for part in item.split(",") if part.strip())


def _key_groups(
    document: Document, groups: Any, path: tuple[str | int, ...]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str | int, ...]]:
    """The age keys and other kinds of a single key group (its `merge` groups included)."""
    if not isinstance(groups, list) or not groups:
        raise GenSecretError("must be a list of key groups", document.where(path))
    if len(groups) > 1:
        raise GenSecretError(
            f"has {len(groups)} key groups (Shamir's secret sharing), which gen-secret cannot "
            "write; use one group",
            document.where(path),
        )
    age: list[str] = []
    others: list[str] = []

    def collect(group: Any, at: tuple[str | int, ...]) -> None:
        if not isinstance(group, dict):
            raise GenSecretError("must be a mapping", document.where(at))
        age.extend(_keys(document, group.get("age"), (*at, "age")))
        others.extend(kind for kind in _GROUP_OTHER_KEYS if group.get(kind))
        merged = group.get("merge") or []
        if not isinstance(merged, list):
            raise GenSecretError("must be a list of key groups", document.where((*at, "merge")))
        for n, inner in enumerate(merged):
            collect(inner, (*at, "merge", n))

    collect(groups[0], (*path, 0))
    return tuple(age), tuple(dict.fromkeys(others)), (*path, 0, "age")
