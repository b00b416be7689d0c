"""The Kubernetes providers: `kind` (the seed's own path, modernised) and `kube` (existing clusters by context)."""
