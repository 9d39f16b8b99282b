"""gen-secret: render a sealer cluster's registry Secret from its Clusterfile."""

__version__ = "0.1.0"
