"""deploy/components/external-metrics: the adapter's NetworkPolicy admits the API server only.

Rendered with ``kubectl kustomize`` and validated with the other objects by
``test_deploy_manifests.py``; here: it selects exactly the adapter's pods, opens only the
serving port, and no rule lets an ordinary pod in (issue 11: every connection costs the
adapter memory before any credential is checked).
"""

from __future__ import annotations

import ipaddress

from test_deploy_manifests import one

OVERLAY = "overlays/external-metrics"


def test_the_policy_selects_the_adapter_pods_and_only_ingress() -> None:
    policy = one(OVERLAY, "NetworkPolicy", "podscale-adapter")
    adapter = one(OVERLAY, "Deployment", "podscale-adapter")
    assert policy["metadata"]["namespace"] == adapter["metadata"]["namespace"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= adapter["spec"]["template"]["metadata"]["labels"].items()
    controller = one(OVERLAY, "Deployment", "podscale")["spec"]["template"]["metadata"]
    assert not selector.items() <= controller["labels"].items()  # the loop is not isolated
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_only_the_serving_port_is_open() -> None:
    policy = one(OVERLAY, "NetworkPolicy", "podscale-adapter")
    [container] = one(OVERLAY, "Deployment", "podscale-adapter")["spec"]["template"]["spec"][
        "containers"
    ]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    for rule in policy["spec"]["ingress"]:
        assert rule["ports"] == [{"port": "https", "protocol": "TCP"}]
        assert named["https"] == 6443
        assert container["args"][container["args"].index("--listen") + 1].endswith(":6443")


def test_no_rule_admits_ordinary_pods() -> None:
    policy = one(OVERLAY, "NetworkPolicy", "podscale-adapter")
    for rule in policy["spec"]["ingress"]:
        assert rule.get("from"), "a rule without 'from' admits everyone"
        for source in rule["from"]:
            if "ipBlock" in source:
                block = source["ipBlock"]
                assert block["except"], "the pod network must be excluded from the ipBlock"
                for excluded in block["except"]:
                    assert ipaddress.ip_network(excluded).is_private
            else:  # only kube-system (konnectivity agents), never all namespaces
                assert source["namespaceSelector"]["matchLabels"] == {
                    "kubernetes.io/metadata.name": "kube-system"
                }
                assert "podSelector" not in source
