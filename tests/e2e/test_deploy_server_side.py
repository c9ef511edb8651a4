"""The install manifests under server-side apply (GA since Kubernetes 1.22), as GitOps tools
(Argo CD, Flux) and ``kubectl apply --server-side`` install them on current clusters.

Each overlay is rendered (``kubectl kustomize``), applied for real with a field manager of
its own, applied again (nothing may change: no resourceVersion moves, so a GitOps loop
does not write every round), compared with ``kubectl diff --server-side`` (no difference)
and deleted. The current testbed only: 1.20's server-side apply is beta, and the ``ha``
overlay's PodDisruptionBudget (policy/v1) needs 1.21.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import Kubectl, Testbed

REPO = Path(__file__).resolve().parents[2]
MANAGER = "podscale-install"
# deploy/overlays/monitoring needs the Prometheus Operator's CRDs, which the testbed lacks.
OVERLAYS = ["base", "overlays/dev", "overlays/ha", "overlays/external-metrics"]


def rendered(overlay: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy" / overlay)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def versions(kubectl: Kubectl, listing: str) -> dict[str, str]:
    """kind/namespace/name -> resourceVersion of every object of ``listing``, as stored."""
    got = json.loads(kubectl("get", "-f", "-", "-o", "json", input=listing).stdout)
    items = got["items"] if got.get("kind") == "List" else [got]
    return {
        f"{i['kind']}/{i['metadata'].get('namespace', '')}/{i['metadata']['name']}": i["metadata"][
            "resourceVersion"
        ]
        for i in items
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_overlay_applies_server_side_and_reapplies_without_a_write(
    testbed: Testbed, kubectl: Kubectl, overlay: str
) -> None:
    if testbed.version == "1.20":
        pytest.skip("server-side apply is beta in 1.20 and policy/v1 arrived in 1.21")
    objects = rendered(overlay)
    listing = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    apply = ("apply", "--server-side", f"--field-manager={MANAGER}", "-f", "-")
    try:
        kubectl(*apply, input=listing)
        # the CRD must be established before anything reads ScalingPolicies
        kubectl("wait", "--for=condition=Established", "crd/scalingpolicies.podscale.dev")
        before = versions(kubectl, listing)
        assert len(before) == len(objects), before

        again = kubectl(*apply, input=listing)
        assert "conflict" not in again.stderr.lower(), again.stderr
        assert versions(kubectl, listing) == before  # nothing was written again

        diff = kubectl("diff", "--server-side", f"--field-manager={MANAGER}", "-f", "-",
                       input=listing, check=False)  # fmt: skip
        assert diff.returncode == 0, diff.stdout + diff.stderr
    finally:
        kubectl("delete", "--ignore-not-found", "--wait=true", "--timeout=120s", "-f", "-",
                input=listing, check=False)  # fmt: skip
