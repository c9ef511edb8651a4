"""`autoscaler validate` at the command line: exit codes and one-line errors."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / "autoscaler")


def validate(*paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, "validate", *paths], capture_output=True, text=True, timeout=60)


def test_bundled_example_policies_are_valid() -> None:
    done = validate(str(REPO / "policies"))
    assert done.returncode == 0, done.stderr
    assert "0 errors" in done.stdout


def test_errors_name_file_line_and_field_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: podscale.dev/v1alpha1\nkind: ScalingPolicy\nmetadata: {name: web}\nspec:\n"
        "  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
        "  minReplicas: 5\n  maxReplicas: 3\n"
    )
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(b"\x00\xff\xfe" * 50)
    done = validate(str(bad), str(garbage), str(REPO / "policies"))
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert any(f"{bad}:7: spec.maxReplicas:" in line for line in errors), done.stderr
    assert any(str(garbage) in line for line in errors)
    assert "Traceback" not in done.stderr


def test_validate_needs_a_path() -> None:
    done = validate()
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
