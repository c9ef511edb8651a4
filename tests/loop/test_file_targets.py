"""Policy files are parsed again only when one changed."""

import os
import time
from pathlib import Path

from autoscaler.loop.targets import FileTargets, RejectedTarget
from autoscaler.ports import TargetRef

POLICY = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata: {{name: {name}, namespace: shop}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  maxReplicas: {max}
"""


def test_unchanged_files_are_not_read_again_and_changes_are_seen(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", max=5))
    files = FileTargets([str(tmp_path)])
    first = files.load()
    assert [t.policy.max_replicas for t in first.targets] == [5]
    assert files.load() is first  # nothing changed: the same result, no parsing
    time.sleep(0.01)
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", max=7))
    os.utime(tmp_path / "a.yaml", ns=(time.time_ns(), time.time_ns()))
    assert [t.policy.max_replicas for t in files.load().targets] == [7]
    (tmp_path / "b.yaml").write_text(POLICY.format(name="b", max=3))
    assert sorted(t.name for t in files.load().targets) == ["a", "b"]
    (tmp_path / "a.yaml").unlink()
    assert [t.name for t in files.load().targets] == ["b"]


def test_a_broken_document_names_the_workload_it_would_scale(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(POLICY.format(name="good", max=5))
    (tmp_path / "bad.yaml").write_text(POLICY.format(name="bad", max="ten") + "  minReplica: 1\n")
    (tmp_path / "other.yaml").write_text(POLICY.format(name="x", max="ten").replace("shop", "ops"))
    loaded = FileTargets([str(tmp_path)], namespace="shop").load()
    assert [t.name for t in loaded.targets] == ["good"]
    bad = str(tmp_path / "bad.yaml")
    assert loaded.rejected == [
        RejectedTarget(
            "shop",
            TargetRef("apps/v1", "Deployment", "bad"),
            (
                f'{bad}:6: spec.maxReplicas: must be an integer (got "ten")',
                f'{bad}:7: spec.minReplica: unknown field (did you mean "minReplicas"?)',
            ),
        )
    ]  # and none for the policy of another namespace
    assert len(loaded.errors) == 3  # the log still names every problem
