"""Targets from policy files: each valid policy becomes a Target; each problem one line."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from autoscaler.documents import DocumentError, policy_from_spec
from autoscaler.policy import load_policies
from autoscaler.ports import Target, TargetRef


@dataclass(frozen=True, slots=True)
class RejectedTarget:
    """A workload named by a broken policy document, with that document's problems
    (each ``FILE:LINE: FIELD: MESSAGE``): what an event on the workload says."""

    namespace: str
    ref: TargetRef
    problems: tuple[str, ...]


@dataclass(slots=True)
class LoadedTargets:
    targets: list[Target] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rejected: list[RejectedTarget] = field(default_factory=list)


def targets_from_files(paths: Sequence[str], *, namespace: str | None = None) -> LoadedTargets:
    """Every valid policy under ``paths``; a broken one is reported and skipped."""
    loaded = load_policies(paths)
    result = LoadedTargets(errors=[issue.format() for issue in loaded.errors])
    for rejected in loaded.rejected:
        if namespace and rejected.namespace != namespace:
            continue
        result.rejected.append(
            RejectedTarget(
                rejected.namespace,
                TargetRef(rejected.api_version or "apps/v1", rejected.kind, rejected.name),
                tuple(issue.format().removeprefix("error: ") for issue in rejected.issues),
            )
        )
    for item in loaded.policies:
        meta, spec = item.policy.metadata, item.policy.spec
        if namespace and meta.namespace != namespace:
            continue
        ref = spec.scale_target_ref
        target_ref = TargetRef(ref.api_version or "apps/v1", ref.kind, ref.name)
        try:
            policy = policy_from_spec(spec.decision_spec(), f"{item.file}:{item.line}: spec")
        except DocumentError as exc:
            result.errors.append(str(exc))
            result.rejected.append(RejectedTarget(meta.namespace, target_ref, (str(exc),)))
            continue
        result.targets.append(
            Target(
                namespace=meta.namespace,
                name=meta.name,
                ref=target_ref,
                policy=policy,
                mode=spec.mode,
                source=f"{item.file}:{item.line}",
                metric_specs=tuple(spec.with_defaults().metrics or ()),
            )
        )
    return result


def _fingerprint(paths: Sequence[str]) -> tuple[tuple[str, int, int], ...]:
    """Every policy file under ``paths`` with its modification time and size."""
    found: list[tuple[str, int, int]] = []
    for path in paths:
        candidates = [path]
        if os.path.isdir(path):
            candidates = [
                os.path.join(folder, name)
                for folder, _, names in os.walk(path)
                for name in names
                if name.endswith((".yaml", ".yml"))
            ]
        for candidate in candidates:
            try:
                info = os.stat(candidate)
            except OSError:
                found.append((candidate, -1, -1))
                continue
            found.append((candidate, info.st_mtime_ns, info.st_size))
    return tuple(sorted(found))


class FileTargets:
    """Targets from policy files, parsed again only when a file changed.

    Validating thousands of policy documents costs more than a whole sync of their
    targets; a stat of each file per sync tells whether anything needs reading.
    """

    def __init__(self, paths: Sequence[str], *, namespace: str | None = None) -> None:
        self.paths = list(paths)
        self.namespace = namespace
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._loaded = LoadedTargets()

    def load(self) -> LoadedTargets:
        fingerprint = _fingerprint(self.paths)
        if fingerprint != self._seen:
            self._loaded = targets_from_files(self.paths, namespace=self.namespace)
            self._seen = fingerprint
        return self._loaded
