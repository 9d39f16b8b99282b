"""Each command's exit codes: one table, shown by its --help and kept equal to the README's."""

# (code, when) rows; the README's "Exit codes" tables hold the same rows (a test compares them).
INTERNAL = "an internal error (a bug); GEN_SECRET_DEBUG=1 shows it"
EXIT_CODES: dict[str, tuple[tuple[str, str], ...]] = {
    "render": (
        ("0", "the objects were printed, or written to the --out folder"),
        ("1", "an error, such as bad input; --out is left as it was"),
        ("2", "usage: an unknown option, a bad value, options that clash"),
        ("3", INTERNAL),
        ("129, 130, 143", "hung up, interrupted or terminated; --out whole"),
    ),
    "inspect": (
        ("0", "the summary was printed"),
        ("1", "an error, such as bad input"),
        ("2", "usage: an unknown option, a bad value, options that clash"),
        ("3", INTERNAL),
        ("129, 130, 143", "hung up, interrupted (Ctrl-C) or terminated"),
    ),
    "match": (
        ("0", "the Secret serves every image"),
        ("1", "it does not serve at least one image"),
        ("2", "anything else: an invalid image reference, bad input or usage"),
        ("3", INTERNAL),
        ("129, 130, 143", "hung up, interrupted (Ctrl-C) or terminated"),
    ),
    "check": (
        ("0", "the --out folder holds what render would write"),
        ("1", "it differs: a file would change, be added or be removed"),
        ("2", "anything else: bad input, an unreadable folder or usage"),
        ("3", INTERNAL),
        ("129, 130, 143", "hung up, interrupted (Ctrl-C) or terminated"),
    ),
}

# Commands whose exit code 1 is an answer, as grep's "not found" and diff's "differs" are:
# for them every failure is 2, so that a script can tell "no" from "could not answer".
ANSWERING = frozenset({"match", "check"})


def failure_code(command: str | None, code: int) -> int:
    """The exit code of a failure with `code` (1 or 2, as the error says) in this command."""
    return 2 if command in ANSWERING and code == 1 else code


def epilog(command: str, example: str = "") -> str:
    """The table for the end of the command's --help, then an example if there is one.

    The `\\b` line keeps click's plain formatter from re-wrapping the table into one paragraph
    (rich, typer's default, keeps line breaks as they are and drops the `\\b`).
    """
    rows = EXIT_CODES[command]
    width = max(len(code) for code, _ in rows)
    lines = ["\b", "Exit codes:", *(f"  {code:<{width}}  {when}" for code, when in rows)]
    text = "\n".join(lines)
    return f"{text}\n\nExample: {example}" if example else text
