"""The Dockerfile, checked statically (no container engine on this machine)."""

from __future__ import annotations

import fnmatch
import json
import shlex
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def ignored(path: str) -> bool:
    patterns = [
        p.strip()
        for p in (REPO / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) or fnmatch.fnmatch(prefix, pattern)
        for pattern in patterns
        for prefix in prefixes
    )


def test_every_copied_path_exists_and_is_not_dockerignored() -> None:
    copies = [args for word, args in instructions() if word == "COPY"]
    sources = [
        source
        for args in copies
        if not args.startswith("--from")
        for source in shlex.split(args)[:-1]
    ]
    assert sources, "no COPY from the build context"
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such path in the repo"
        assert not ignored(source), f"COPY {source}: excluded by .dockerignore"


def test_the_build_context_has_what_pip_install_needs() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    copied = {s for w, a in instructions() if w == "COPY" for s in shlex.split(a)[:-1]}
    assert project["readme"] in copied
    assert {"pyproject.toml", "setup.py", "autoscaler"} <= copied  # setup.py: what the wheel has
    assert project["scripts"]["autoscaler"] == "autoscaler.cli:console"


def test_the_image_runs_autoscaler_run_as_a_non_root_user() -> None:
    steps = instructions()
    [cmd] = [args for word, args in steps if word == "CMD"]
    assert json.loads(cmd) == ["autoscaler", "run"]
    assert not [w for w, _ in steps if w == "ENTRYPOINT"]
    [user] = [args for word, args in steps if word == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can check it
    deployment = yaml.safe_load((REPO / "deploy" / "base" / "deployment.yaml").read_text())
    context = deployment["spec"]["template"]["spec"]["securityContext"]
    assert context["runAsUser"] == int(uid)


def test_the_base_image_satisfies_requires_python() -> None:
    images = [args.split()[0] for word, args in instructions() if word == "FROM"]
    assert images and all(i.startswith("python:3.11") for i in images)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"


def test_the_image_exposes_the_ports_the_deployments_use() -> None:
    [exposed] = [args for word, args in instructions() if word == "EXPOSE"]
    ports = set()
    for path in ("base/deployment.yaml", "components/external-metrics/deployment.yaml"):
        deployment = yaml.safe_load((REPO / "deploy" / path).read_text())
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        ports |= {str(p["containerPort"]) for p in container["ports"]}
    assert set(exposed.split()) == ports


def test_dockerignore_keeps_secrets_and_caches_out_of_the_context() -> None:
    for path in (".git/config", ".venv/bin/python", "tests/e2e/conftest.py", "x/__pycache__"):
        assert ignored(path), path
