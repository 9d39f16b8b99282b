"""What several commands share: one line on stderr, the output on stdout, notes for a
terminal, passwords, and the request options that inspect and match share with render."""

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from generator.cli.options import MergeWinner
from generator.defaults import STDIN
from generator.errors import UsageError

if TYPE_CHECKING:
    from generator.app import pipeline


def say(kind: str, message: str) -> None:
    """One line on stderr, never on stdout: `gen-secret: warning: ...`.

    Escaped as a whole: a note or warning may quote a file name or a value from the file.
    """
    from generator.io.streams import write_stderr
    from generator.model.names import printable

    line = f"gen-secret: {kind}: {message}" if kind else f"gen-secret: {message}"
    write_stderr(printable(line))


def write_stdout(text: str | Iterable[str]) -> None:
    """Print the output, whole or piece by piece; a full disk or a closed stdout is the
    user's to know, in one line."""
    from generator.io.streams import stdout_error

    try:
        for piece in (text,) if isinstance(text, str) else text:
            sys.stdout.write(piece)
        sys.stdout.flush()
    except OSError as exc:  # the console script's stdout raises streams.StdoutError itself
        raise stdout_error(exc) from None


def terminal_notes(per_cluster: list[tuple[str, ...]]) -> None:
    """Notes for a person at a terminal, never for a pipeline; a fleet's alike notes once."""
    if not sys.stderr.isatty():
        return
    counts: dict[str, int] = {}
    for notes in per_cluster:
        for line in notes:
            counts[line] = counts.get(line, 0) + 1
    for line, count in counts.items():
        say("note", line if count == 1 else f"{count} clusters: {line}")


def check_stdin(stdin_users: list[str], password_file: Path | None) -> None:
    """At most one input from stdin, and one source for the password."""
    if len(stdin_users) > 1:
        raise UsageError(f"only one input can come from stdin: {' and '.join(stdin_users)}")
    if "--password-stdin" in stdin_users and password_file is not None:
        raise UsageError("--password-stdin and --password-file cannot be used together")


def read_password_option(
    password_stdin: bool, password_file: Path | None, what: str = "password"
) -> str | None:
    """The password from --password-stdin or --password-file, if either was given."""
    from generator.io import inputs

    if password_stdin:
        if sys.stdin.isatty():  # a person at a terminal: ask, and do not echo what is typed
            return inputs.prompt_password()
        data = inputs.read_stdin(inputs.MAX_PASSWORD_BYTES)
        return inputs.read_password(data, "stdin", what)
    if password_file is not None:
        data = inputs.read_bytes(password_file, inputs.MAX_PASSWORD_BYTES)
        return inputs.read_password(data, str(password_file), what)
    return None


def rotation_and_merge(
    previous_username: str | None,
    previous_password_stdin: bool,
    previous_password_file: Path | None,
    merge_auths: list[str] | None,
    merge_auths_override: MergeWinner | None,
) -> dict[str, Any]:
    """The Request fields of --previous-* and --merge-auths*, read from their files."""
    from generator.io import inputs

    if previous_password_stdin and previous_password_file is not None:
        raise UsageError(
            "--previous-password-stdin and --previous-password-file cannot be used together"
        )
    if merge_auths_override is not None and not merge_auths:
        raise UsageError("--merge-auths-override needs --merge-auths")

    merged: tuple[tuple[str, bytes], ...] = ()
    if merge_auths:  # only runs that merge load the module (1.4 ms of a start)
        from generator.model.mergeauths import MAX_MERGE_BYTES

        merged = tuple(inputs.read_small(name, MAX_MERGE_BYTES) for name in merge_auths)
    return {
        "previous_username": previous_username,
        "previous_password": read_password_option(
            previous_password_stdin, previous_password_file, "previous password"
        ),
        "merge_auths": merged,
        "merge_override": merge_auths_override.value if merge_auths_override else None,
    }


class RequestArgs(NamedTuple):
    """The options `inspect` and `match` share with `render`, as the command line gave them
    (a NamedTuple, as RenderArgs is: every start loads this module)."""

    clusterfile: str | None
    cluster: str | None
    name: str
    namespace: str
    username: str | None
    password_stdin: bool
    password_file: Path | None
    ca_file: Path | None
    alias: list[str] | None
    previous_username: str | None
    previous_password_stdin: bool
    previous_password_file: Path | None
    merge_auths: list[str] | None
    merge_auths_override: MergeWinner | None

    @classmethod
    def of(cls, values: dict[str, Any]) -> "RequestArgs":
        """From a command's parameters, by name."""
        return cls(**{name: values[name] for name in cls._fields})


def read_request(args: RequestArgs) -> tuple[str, bytes, "pipeline.Request"]:
    """One Clusterfile's name and bytes, and the options inspect and match share with render."""
    from generator.app import pipeline
    from generator.io import inputs

    used = [
        ("CLUSTERFILE -", args.clusterfile == STDIN),
        ("--password-stdin", args.password_stdin),
        ("--previous-password-stdin", args.previous_password_stdin),
        ("--merge-auths -", STDIN in (args.merge_auths or ())),
    ]
    check_stdin([flag for flag, on in used if on], args.password_file)
    found = inputs.read_clusterfiles([args.clusterfile] if args.clusterfile is not None else [])
    if found.is_fleet:
        raise UsageError("give one Clusterfile, not a folder")
    for line in found.notes:
        say("", line)
    ((source, data),) = found.files
    request = pipeline.Request(
        name=args.name,
        namespace=args.namespace,
        username=args.username,
        password=read_password_option(args.password_stdin, args.password_file),
        ca_file=args.ca_file,
        aliases=tuple(args.alias or ()),
        cluster=args.cluster,
        **rotation_and_merge(
            args.previous_username,
            args.previous_password_stdin,
            args.previous_password_file,
            args.merge_auths,
            args.merge_auths_override,
        ),
    )
    return source, data, request
