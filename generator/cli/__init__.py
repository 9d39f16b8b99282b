"""The commands, their reports and exit codes: the only layer that prints."""
