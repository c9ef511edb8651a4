"""Files, folders, documents and hostile input: one-line errors, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_helpers import BASE, patched, validate

from autoscaler.policy import load_policies

REPO = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^(error|warning): [^\n]+$")

POLICY = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata:
  name: web
spec:
  scaleTargetRef:
    kind: Deployment
    name: web
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 0
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "web.yaml", POLICY)
    code, out, err = validate(path)
    assert code == 1
    assert err.splitlines() == [
        f"error: {path}:17: spec.metrics[0].resource.target.averageUtilization: "
        "must be greater than 0 (got 0)"
    ]
    assert out == "1 file, 1 policy: 1 error, 0 warnings\n"


def test_a_missing_field_points_at_its_parent(tmp_path: Path) -> None:
    path = write(tmp_path, "web.yaml", POLICY.replace("  maxReplicas: 10\n", ""))
    _, _, err = validate(path)
    assert f"error: {path}:5: spec.maxReplicas: required" in err.splitlines()


def test_line_numbers_count_from_the_file_not_the_document(tmp_path: Path) -> None:
    fixed = POLICY.replace("averageUtilization: 0", "averageUtilization: 50")
    path = write(tmp_path, "two.yaml", fixed + "---\n" + POLICY)
    _, _, err = validate(path)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {path}:35: spec.metrics[0].resource.target.averageUtilization: "
        "must be greater than 0 (got 0)"
    ]


def test_every_document_of_a_file_is_checked(tmp_path: Path) -> None:
    docs = [
        patched({"metadata.name": "a"}),
        patched({"metadata.name": "b", "spec.maxReplicas": 0}),
        patched({"metadata.name": "c"}),
        patched({"metadata.name": "d", "spec.minReplicas": -1}),
    ]
    path = write(tmp_path, "many.yaml", yaml.safe_dump_all(docs) + "---\n")
    result = load_policies([path])
    assert [p.policy.metadata.name for p in result.policies] == ["a", "c"]
    assert [e.path for e in result.errors] == ["spec.maxReplicas", "spec.minReplicas"]
    assert result.documents == 4


HPA_V2 = """\
apiVersion: autoscaling/{version}
kind: HorizontalPodAutoscaler
metadata: {{name: front, namespace: shop}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: front}}
  minReplicas: 2
  maxReplicas: 8
  metrics:
    - type: Pods
      pods:
        metric: {{name: rps}}
        target: {{type: AverageValue, averageValue: "20"}}
"""


def test_native_hpa_v2_and_v2beta2_manifests_are_policies(tmp_path: Path) -> None:
    paths = [write(tmp_path, f"{v}.yaml", HPA_V2.format(version=v)) for v in ("v2", "v2beta2")]
    paths[1] = write(
        tmp_path, "v2beta2.yaml", HPA_V2.format(version="v2beta2").replace("front", "back")
    )
    result = load_policies(paths)
    assert result.errors == []
    first = result.policies[0]
    assert first.origin == "autoscaling/v2 HorizontalPodAutoscaler"
    assert first.policy.key == ("shop", "front")
    assert first.policy.hpa_spec()["metrics"][0]["pods"]["metric"] == {"name": "rps"}
    assert result.policies[1].origin == "autoscaling/v2beta2 HorizontalPodAutoscaler"


def test_native_hpa_v1_becomes_a_cpu_utilization_metric(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "v1.yaml",
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: old}\n"
        "spec:\n  scaleTargetRef: {kind: Deployment, name: old}\n  maxReplicas: 4\n"
        "  targetCPUUtilizationPercentage: 60\nstatus: {currentReplicas: 1}\n",
    )
    result = load_policies([path])
    assert result.errors == []
    assert result.policies[0].policy.hpa_spec()["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
    ]


def test_native_hpa_v1_errors_name_its_own_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "v1.yaml",
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: old}\n"
        "spec:\n  scaleTargetRef: {kind: Deployment, name: old}\n  maxReplicas: 4\n"
        "  targetCPUUtilizationPercentage: 0\n  metrics: []\n",
    )
    _, _, err = validate(path)
    assert err.splitlines() == [
        f"error: {path}:7: spec.targetCPUUtilizationPercentage: must be greater than 0 (got 0)",
        f"error: {path}:8: spec.metrics: unknown field",
    ]


def test_a_native_hpa_may_not_use_podscale_extensions(tmp_path: Path) -> None:
    path = write(tmp_path, "hpa.yaml", HPA_V2.format(version="v2") + "  mode: DryRun\n")
    assert [e.message for e in load_policies([path]).errors] == ["unknown field"]


def test_an_unknown_hpa_version_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "hpa.yaml", HPA_V2.format(version="v2beta1"))
    _, _, err = validate(path)
    assert err == (
        f'error: {path}:1: apiVersion: unsupported apiVersion "autoscaling/v2beta1" '
        "(must be autoscaling/v2 or autoscaling/v2beta2 or autoscaling/v1)\n"
    )


def test_duplicate_names_in_a_namespace_are_an_error_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", yaml.safe_dump(BASE))
    second = write(tmp_path, "b.yaml", yaml.safe_dump(patched({"spec.scaleTargetRef.name": "x"})))
    other_ns = write(tmp_path, "c.yaml", yaml.safe_dump(patched({"metadata.namespace": "other"})))
    result = load_policies([first, second, other_ns])
    assert [e.format() for e in result.errors] == [
        f'error: {second}:4: metadata.name: duplicate policy "web" in namespace "default" '
        f"(first defined at {first}:4)"
    ]
    assert len(result.policies) == 2


def test_folders_are_searched_for_yaml_files(tmp_path: Path) -> None:
    write(tmp_path, "a/one.yaml", yaml.safe_dump(patched({"metadata.name": "one"})))
    write(
        tmp_path,
        "a/deep/two.yml",
        yaml.safe_dump(patched({"metadata.name": "two", "spec.scaleTargetRef.name": "two"})),
    )
    write(tmp_path, "a/notes.txt", "not yaml")
    write(tmp_path, "a/.hidden/three.yaml", "garbage: [")
    code, out, _ = validate(str(tmp_path / "a"))
    assert code == 0
    assert out == "2 files, 2 policies: 0 errors, 0 warnings\n"


HOSTILE = {
    "random-bytes": bytes(range(256)) * 4,
    "invalid-utf8": b"apiVersion: \xc3\x28\n",
    "nul-bytes": "kind: \x00\n",
    "empty": "",
    "comments-only": "# nothing here\n---\n",
    "scalar": "just a string\n",
    "number": "42\n",
    "list": "- a\n- b\n",
    "syntax": "a: [\n",
    "tab-indent": "a:\n\tb: 1\n",
    "bad-tag": "!!python/object:os.system {}\n",
    "python-tag-scalar": "kind: !!python/name:os.system ''\n",
    "binary": "kind: !!binary aGVsbG8=\n",
    "date": "kind: 2024-01-01\n",
    "huge-int": f"spec: {{maxReplicas: {'9' * 5000}}}\n",
    "non-string-key": "? [a, b]\n: c\n",
    "duplicate-key": "kind: a\nkind: b\n",
    "recursive-alias": "a: &a [*a]\n",
    "deep": "[" * 100000,
    "deep-mapping": "a: " * 3000 + "b\n",
    "bad-merge": "a: &a 1\nb:\n  <<: *a\n",
    "long-line": "kind: " + "x" * 500000 + "\n",
    "many-nodes": "x:\n" + "- i\n" * 20000,
    "too-large": "# padding\n" * 120000,
}


def test_hostile_inputs_give_one_line_errors(tmp_path: Path) -> None:
    for name, content in HOSTILE.items():
        path = write(tmp_path, f"{name}.yaml", content)
        code, out, err = validate(path)
        assert code == 1, name
        assert err and all(LINE.match(line) for line in err.splitlines()), (name, err)
        assert "Traceback" not in err + out, name
        assert len(out.splitlines()) == 1, name


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.yaml", "")
    assert validate(path)[2] == f"error: {path}: no documents (the file is empty)\n"


def test_a_list_document_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", "- a\n")
    assert (
        validate(path)[2] == f"error: {path}:1: a policy document must be a mapping (got a list)\n"
    )


def test_missing_paths_and_empty_folders_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    missing, empty = str(tmp_path / "nope.yaml"), str(tmp_path / "empty")
    code, out, err = validate(missing, empty)
    assert code == 1
    assert err.splitlines() == [
        f"error: {missing}: no such file or directory",
        f"error: {empty}: no YAML files (*.yaml, *.yml) found",
    ]
    assert out == "0 files, 0 policies: 2 errors, 0 warnings\n"


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    link = tmp_path / "dangling.yaml"
    os.symlink(tmp_path / "gone", link)
    assert validate(str(link))[2] == f"error: {link}: cannot read: no such file or directory\n"


def test_a_billion_laughs_is_refused_fast(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    path = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    started = time.monotonic()
    code, _, err = validate(path)
    assert time.monotonic() - started < 2
    assert code == 1
    assert "refusing to load it" in err


def test_yaml_anchors_and_merge_keys_work_within_bounds(tmp_path: Path) -> None:
    text = (
        "apiVersion: podscale.dev/v1alpha1\nkind: ScalingPolicy\nmetadata: {name: m}\n"
        "spec:\n  scaleTargetRef: &ref {kind: Deployment, name: m}\n  maxReplicas: 4\n"
        "  minReplicas: 2\n  behavior:\n    scaleDown: &rules\n      stabilizationWindowSeconds: "
        "60\n"
        "    scaleUp:\n      <<: *rules\n      selectPolicy: Min\n"
    )
    result = load_policies([write(tmp_path, "m.yaml", text)])
    assert result.errors == []
    behavior = result.policies[0].policy.hpa_spec()["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 60
    assert behavior["scaleUp"]["selectPolicy"] == "Min"


def test_a_key_written_before_a_merge_key_keeps_its_own_line(tmp_path: Path) -> None:
    text = (
        "apiVersion: podscale.dev/v1alpha1\nkind: ScalingPolicy\nmetadata: {name: m}\n"
        "spec:\n  scaleTargetRef: {kind: Deployment, name: m}\n"
        "  maxReplicas: 0\n"  # line 6: the value that counts, and the error's line
        "  <<: {maxReplicas: 4, minReplicas: 1}\n"
    )
    path = write(tmp_path, "m.yaml", text)
    _, _, err = validate(path)
    assert err.splitlines() == [
        f"error: {path}:6: spec.maxReplicas: must be greater than 0 (got 0)"
    ]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_validate_never_raises_on_arbitrary_text(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "any.yaml", text)
    code, out, err = validate(path)
    assert code in (0, 1)
    assert all(LINE.match(line) for line in err.splitlines())
    assert len(out.splitlines()) == 1


YAMLISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["spec", "metrics", "type", "target", "kind", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=YAMLISH)
def test_validate_never_raises_on_arbitrary_specs(tmp_path: Path, spec: object) -> None:
    path = write(tmp_path, "any.yaml", yaml.safe_dump({**BASE, "spec": spec}))
    code, _, err = validate(path)
    assert code == 1
    assert all(LINE.match(line) for line in err.splitlines())


def test_the_bundled_policies_are_valid() -> None:
    code, out, err = validate(str(REPO / "policies"))
    assert code == 0, err
    assert "error" not in err
    files = len(list((REPO / "policies").glob("*.yaml")))
    assert files >= 8
    assert out.startswith(f"{files} files, {files} policies: 0 errors")


def test_a_rejected_document_names_its_workload_only_when_it_can(tmp_path: Path) -> None:
    """The loop puts an event on that workload: only a name an object can have."""
    broken = POLICY.replace("maxReplicas: 10", "maxReplicas: ten")
    write(tmp_path, "named.yaml", broken)
    write(
        tmp_path,
        "hpa.yaml",
        broken.replace("podscale.dev/v1alpha1", "autoscaling/v2")
        .replace("ScalingPolicy", "HorizontalPodAutoscaler")
        .replace("name: web\nspec", "name: h\n  namespace: ops\nspec"),
    )
    write(tmp_path, "bad-name.yaml", broken.replace("    name: web", "    name: Web_1"))
    write(
        tmp_path,
        "no-ref.yaml",
        broken.replace("  scaleTargetRef:\n    kind: Deployment\n    name: web\n", ""),
    )
    write(
        tmp_path,
        "list-ns.yaml",
        broken.replace("name: web\nspec", "name: web\n  namespace: [a]\nspec"),
    )
    result = load_policies([str(tmp_path)])
    assert [(r.namespace, r.api_version, r.kind, r.name) for r in result.rejected] == [
        ("ops", "", "Deployment", "web"),
        ("default", "", "Deployment", "web"),
    ]
    assert [i.format() for i in result.rejected[1].issues] == [
        f'error: {tmp_path / "named.yaml"}:10: spec.maxReplicas: must be an integer (got "ten")'
    ]
    assert {Path(i.file).name for i in result.errors} == {
        "named.yaml",
        "hpa.yaml",
        "bad-name.yaml",
        "no-ref.yaml",
        "list-ns.yaml",
    }  # every file still has its errors


def test_a_fifo_never_blocks_the_load(tmp_path: Path) -> None:
    """A FIFO in a policy folder would wait for a writer forever (and with it, every
    sync of the loop); one named on the command line is read to its end."""
    folder = tmp_path / "policies"
    folder.mkdir()
    write(folder, "web.yaml", POLICY.replace("averageUtilization: 0", "averageUtilization: 50"))
    os.mkfifo(folder / "pipe.yaml")
    named = tmp_path / "named.yaml"
    os.mkfifo(named)
    script = (
        "import sys\n"
        "from autoscaler.policy import load_policies\n"
        "r = load_policies(sys.argv[1:])\n"
        "print(len(r.policies), *[e.format() for e in r.errors], sep='\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(named)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout.splitlines() == [
        "1",
        f"error: {folder / 'pipe.yaml'}: not a regular file: skipped",
        f"error: {named}: no documents (the file is empty)",  # no writer: nothing to read
    ]
