"""``autoscaler validate PATH...``: check policy files before they reach a cluster.

Errors are what the HPA API server (or Podscale) would refuse; warnings are valid
policies that probably misbehave. Each prints on one line as
``error: FILE:LINE: FIELD: MESSAGE`` (or ``warning: ...``) on ``err``, in file and
line order, followed by a one-line summary on ``out``. The exit code is 1 when any
error was found, else 0, so the command can gate a CI pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from autoscaler.policy.issues import Issue
from autoscaler.policy.lint import lint_all
from autoscaler.policy.loader import load_policies


def run_validate(
    paths: Sequence[str], *, out: TextIO, err: TextIO, only_policies: bool = False
) -> int:
    """Validate every policy under ``paths``; print problems and a summary; exit code.

    Documents of other kinds (a Deployment, RBAC, a kustomization) are skipped, each
    with a warning unless ``only_policies``: a folder of manifests validates as a
    whole, and the warning shows what was not checked.
    """
    result = load_policies(paths, foreign="skip" if only_policies else "warn")
    warnings = lint_all(result.policies)
    if not only_policies:
        warnings += result.skipped
    issues = _in_file_order(result.errors + warnings, files=result.files)
    for issue in issues:
        print(issue.format(), file=err)
    skipped = f" ({len(result.skipped)} other documents skipped)" if result.skipped else ""
    summary = (
        f"{_count(len(result.files), 'file')}, {_count(result.documents, 'policy', 'policies')}"
        f"{skipped}: {_count(len(result.errors), 'error')}, {_count(len(warnings), 'warning')}"
    )
    print(summary, file=out)
    return 1 if result.errors else 0


def _in_file_order(issues: list[Issue], *, files: list[str]) -> list[Issue]:
    """Sorted by file (in reading order) then line; bad paths (not read) come first."""
    rank = {name: index for index, name in enumerate(files)}
    return sorted(issues, key=lambda issue: (rank.get(issue.file, -1), issue.line or 0))


def _count(number: int, singular: str, plural: str | None = None) -> str:
    word = singular if number == 1 else (plural or singular + "s")
    return f"{number} {word}"
