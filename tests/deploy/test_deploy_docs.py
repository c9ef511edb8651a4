"""The docs stay true: the generated field reference is current, every reason the loop
reports is explained, and every relative link resolves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.core import normalize
from autoscaler.crd import DESCRIPTIONS
from autoscaler.kube.pods import METRICS_SERVER_MISSING
from autoscaler.metrics import prometheus

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
MINE = ("install.md", "policies.md", "migrating-from-hpa.md", "troubleshooting.md")
EVERY_PAGE = tuple(sorted(p.name for p in DOCS.glob("*.md")))


def test_policies_md_is_what_scripts_gen_docs_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen-docs")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert (DOCS / "policies.md").read_text() == result.stdout, (
        "docs/policies.md is stale: run .venv/bin/python scripts/gen-docs --write"
    )


def test_policies_md_lists_every_field_with_its_description() -> None:
    page = (DOCS / "policies.md").read_text()
    for key, description in DESCRIPTIONS.items():
        owner, name = key.split(".")
        section = page.split(f"## {owner}\n", 1)[1].split("\n## ", 1)[0]
        assert f"| `{name}` |" in section and description in section, key


REASONS = [
    # AbleToScale
    "SucceededGetScale", "FailedGetScale", "SucceededRescale", "FailedUpdateScale",
    "ScaleDownStabilized", "ScaleUpStabilized", "ReadyForNewScale",
    # ScalingActive
    "ValidMetricFound", "FailedGetResourceMetric", "FailedGetPodsMetric",
    "FailedGetObjectMetric", "FailedGetExternalMetric", "FailedGetContainerResourceMetric",
    "InvalidMetricSourceType", "ScalingDisabled", "InvalidPolicy",
    # ScalingLimited: every limit the decision core can report
    *(reason for reason, _ in (
        normalize.TOO_MANY, normalize.TOO_FEW, normalize.SCALE_UP_LIMIT,
        normalize.SCALE_DOWN_LIMIT, normalize.WITHIN_RANGE,
    )),
    # Prometheus-backed metrics
    prometheus.NO_DATA, prometheus.STALE, prometheus.INVALID_VALUE,
    prometheus.INVALID_RESULT, prometheus.INVALID_SELECTOR, prometheus.QUERY_FAILED,
]  # fmt: skip
EVENTS = ["SuccessfulRescale", "FailedRescale", "FailedComputeMetricsReplicas", "FailedGetScale"]


@pytest.mark.parametrize("reason", REASONS)
def test_troubleshooting_explains_each_condition_reason(reason: str) -> None:
    page = (DOCS / "troubleshooting.md").read_text()
    match = re.search(rf"^### `{reason}`\n(.*?)(?=^##)", page, re.S | re.M)
    assert match, f"no '### `{reason}`' section"
    text = " ".join(match.group(1).split())
    assert "**Meaning" in text and "What to do:**" in text


def test_troubleshooting_lists_each_event_reason() -> None:
    page = (DOCS / "troubleshooting.md").read_text()
    events = page.split("## Events", 1)[1].split("\n## ", 1)[0]
    for reason in EVENTS:
        assert f"| `{reason}` |" in events, reason


def test_troubleshooting_covers_the_user_facing_problems() -> None:
    page = " ".join((DOCS / "troubleshooting.md").read_text().split())
    for phrase in (
        METRICS_SERVER_MISSING,  # the loop's own message
        "missing request for cpu in container app",
        "Another writer changes the replicas",
    ):
        assert phrase in page, phrase


@pytest.mark.parametrize("page", [REPO / "README.md", *(DOCS / name for name in EVERY_PAGE)])
def test_relative_links_resolve_to_files_in_the_repository(page: Path) -> None:
    """A link out of the repository (such as ../shared/...) is dead in a clone."""
    text = page.read_text()
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(REPO), f"{page.name}: {target} is outside the repository"
        assert resolved.exists(), f"{page.name}: broken link {target}"
