"""`python -m generator`: the console script, the same entry point."""

from generator.cli.script import run

run()
