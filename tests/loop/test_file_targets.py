"""Policy files are parsed again only when one changed."""

import os
import time
from pathlib import Path

from autoscaler.loop.targets import FileTargets

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
