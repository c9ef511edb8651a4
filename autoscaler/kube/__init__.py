"""Kubernetes access for the loop, through the official client only (and a kubeconfig)."""
