"""Many clusters in one run: in worker processes, skipping clusters that did not change."""
