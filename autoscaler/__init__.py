"""Podscale: an HPA-compatible autoscaler for Kubernetes."""

__version__ = "0.1.0"
