"""Many clusters in one run: skipping clusters that did not change."""
