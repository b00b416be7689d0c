"""Pinned versions of what the Kubernetes providers install (current releases when this was written)."""

METALLB_VERSION = "v0.16.1"
METALLB_MANIFEST = (
    f"https://raw.githubusercontent.com/metallb/metallb/{METALLB_VERSION}/config/manifests/metallb-native.yaml"
)
VAULT_OPERATOR_CHART = "oci://ghcr.io/bank-vaults/helm-charts/vault-operator"
VAULT_OPERATOR_VERSION = "1.24.0"
OPENBAO_IMAGE = "openbao/openbao:2.7.2"
VAULT_IMAGE = "hashicorp/vault:1.20.4"
