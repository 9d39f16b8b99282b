"""The disk and the process: inputs, CA files, the output transaction, streams, signals."""
