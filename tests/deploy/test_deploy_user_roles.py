"""ScalingPolicy in the built-in user roles: `view` reads, `edit`/`admin` also write, and
no aggregated role grants anything else (least privilege for every namespace user)."""

from __future__ import annotations

from typing import Any

import pytest
from test_deploy_manifests import rendered

AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
READ = {"get", "list", "watch"}
WRITE = {"create", "update", "patch", "delete", "deletecollection"}


def aggregated(kustomization: str = "base") -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d
        for d in rendered(kustomization)
        if d["kind"] == "ClusterRole"
        and any(k.startswith(AGGREGATE) for k in d["metadata"].get("labels", {}))
    }


def grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def levels(role: dict[str, Any]) -> set[str]:
    labels = role["metadata"]["labels"]
    return {
        k.removeprefix(AGGREGATE)
        for k, v in labels.items()
        if k.startswith(AGGREGATE) and v == "true"
    }


def test_view_reads_policies_and_their_status_and_joins_every_level() -> None:
    [view] = [r for r in aggregated().values() if "view" in levels(r)]
    assert levels(view) == {"view", "edit", "admin"}
    assert grants(view) == {
        ("podscale.dev", resource, verb)
        for resource in ("scalingpolicies", "scalingpolicies/status")
        for verb in READ
    }


def test_edit_writes_policies_but_not_their_status_and_is_not_in_view() -> None:
    [edit] = [r for r in aggregated().values() if "edit" in levels(r) and "view" not in levels(r)]
    assert levels(edit) == {"edit", "admin"}
    assert grants(edit) == {("podscale.dev", "scalingpolicies", verb) for verb in WRITE}


@pytest.mark.parametrize("kustomization", ["base", "overlays/dev", "overlays/ha"])
def test_every_overlay_has_exactly_the_two_aggregated_roles(kustomization: str) -> None:
    assert sorted(aggregated(kustomization)) == [
        "podscale:scalingpolicies:edit",
        "podscale:scalingpolicies:view",
    ]


def test_only_the_controller_role_writes_policy_status() -> None:
    writers = {
        d["metadata"]["name"]
        for d in rendered("base")
        if d["kind"] in ("Role", "ClusterRole")
        and any(
            "scalingpolicies/status" in rule["resources"] and set(rule["verbs"]) & WRITE
            for rule in d["rules"]
        )
    }
    assert writers == {"podscale"}
