"""What the inputs mean: sealer's Clusterfile and its rules, YAML, Kubernetes names and the
kubelet's matching. Pure: no disk, no terminal."""
