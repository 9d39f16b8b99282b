"""Objects to bytes: templates and the read-back check, JSON, sealing, SOPS, and the drift
comparison. Pure: no disk, no terminal."""
