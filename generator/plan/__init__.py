"""What to write: the objects of a render, fan-out, cluster state, the inspect summary.
Pure: no disk, no terminal."""
