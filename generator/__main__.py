"""`python -m generator`: the console script, the same entry point."""

from generator.script import run

run()
