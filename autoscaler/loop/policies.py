"""Where targets come from (policy files and ScalingPolicy objects) and where a sync's
results go back to (status of those objects, events, logs).

The cluster is reached only through ``ports`` interfaces (``store`` for the objects,
``events``, ``workloads`` for the uids of scaled workloads); the command wires the
Kubernetes implementations from ``autoscaler.kube`` in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from autoscaler.loop.controller import Outcome
from autoscaler.loop.crs import (
    Parsed,
    PolicyObjects,
    invalid_status,
    policies_from_objects,
    status_document,
    write_status,
)
from autoscaler.loop.events import Event, EventRecorder, events_for
from autoscaler.loop.targets import FileTargets, RejectedTarget
from autoscaler.loop.workloads import WorkloadUids
from autoscaler.ports import (
    JSON,
    EventSink,
    LoopError,
    NotFound,
    PolicyStore,
    Target,
    TargetRef,
    WorkloadReader,
)

log = logging.getLogger("autoscaler.policies")
CRD_RETRY_SECONDS = 60.0


class Policies:
    """Loads targets each sync and reports outcomes; a broken policy never stops others."""

    def __init__(
        self,
        *,
        store: PolicyStore | None,
        events: EventSink | None,
        workloads: WorkloadReader | None,
        files: Sequence[str],
        namespace: str | None,
        crds: bool,
        watch: bool = False,
    ) -> None:
        self.store = store
        self.files = FileTargets(files, namespace=namespace) if files else None
        self.namespace = namespace
        self.crds = crds and store is not None
        self.events = EventRecorder(events) if events is not None else None
        self.workload_uids = WorkloadUids(workloads) if workloads is not None else None
        self._objects: dict[str, JSON] = {}
        self._reported: set[str] = set()
        self._rejected: set[RejectedTarget] = set()
        self._logged: set[str] = set()  # lines about objects the last listing logged
        self._crd_missing_since: float | None = None
        self.watch = watch
        self.complete = True  # whether the last load saw every policy
        self.listing_error: str | None = None  # why it did not, in one line
        self._watching = False
        self._parsed: dict[tuple[str, int], Parsed] = {}

    def load(self, *, now: float) -> list[Target]:
        targets: dict[str, Target] = {}
        self.complete, self.listing_error = True, None
        if self.files is not None:
            loaded = self.files.load()
            self._report_broken_files(loaded.errors)
            self._report_rejected(loaded.rejected, now=now)
            targets.update((t.key, t) for t in loaded.targets)
        self._objects = {}
        if self.crds and self.store is not None and self._crd_due(now):
            try:
                found = self._policy_objects()
            except NotFound:
                if self._crd_missing_since is None:
                    log.warning("the ScalingPolicy CRD is not installed: reading policy files only")
                self._crd_missing_since = now
                return list(targets.values())
            except LoopError as exc:
                log.warning("cannot list ScalingPolicy objects: %s", exc)
                self.listing_error = f"cannot list ScalingPolicy objects: {exc}"
                self.complete = False  # keep the memory of the objects we could not list
                return list(targets.values())
            self._crd_missing_since = None
            # Logged once per distinct problem, not at every sync (as for files).
            logged, self._logged = self._logged, set()
            for obj, problem in found.invalid:
                self._invalid_object(obj, problem, now=now, logged=logged)
            for target in found.targets:
                if target.key in targets:
                    line = f"policy {target.key} is both a file and an object: using the object"
                    self._log_once(logging.WARNING, line, logged)
                targets[target.key] = target
            self._objects = found.objects
        return list(targets.values())

    def _policy_objects(self) -> PolicyObjects:
        """From the watch cache once it has synced; a LIST until then (or without watches).

        The first successful LIST also tells that the CRD is installed, and only then is
        the informer started.
        """
        assert self.store is not None
        cached = self.store.cached() if self._watching else None
        if cached is not None:
            return policies_from_objects(cached, cache=self._parsed)
        found = policies_from_objects(self.store.objects())
        if self.watch and not self._watching:
            self.store.watch()
            self._watching = True
        return found

    def _crd_due(self, now: float) -> bool:
        return self._crd_missing_since is None or now - self._crd_missing_since >= CRD_RETRY_SECONDS

    def _report_broken_files(self, problems: list[str]) -> None:
        for problem in problems:
            if problem not in self._reported:  # once per distinct problem, not every sync
                log.error("broken policy: %s", problem)
        self._reported = set(problems)

    def _report_rejected(self, rejected: list[RejectedTarget], *, now: float) -> None:
        """An event on each workload a broken policy file names, once per change: a file
        has no object of its own, and its other events are on that workload too."""
        if self.events is not None:
            for item in rejected:
                if item in self._rejected:
                    continue
                involved = self._workload(item.namespace, item.ref, now=now)
                message = "; ".join(item.problems)
                self.events.record(involved, Event("Warning", "InvalidPolicy", message), now=now)
        self._rejected = set(rejected)

    def _log_once(self, level: int, line: str, logged: set[str]) -> None:
        """Log ``line`` unless the last listing logged it already."""
        if line not in logged:
            log.log(level, line)
        self._logged.add(line)

    def _invalid_object(self, obj: JSON, problem: str, *, now: float, logged: set[str]) -> None:
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        self._log_once(logging.ERROR, f"broken policy: ScalingPolicy {key}: {problem}", logged)
        if self.store is None or self.events is None:
            return
        status = invalid_status(
            problem, obj.get("status") or {}, now=now, generation=meta.get("generation")
        )
        if write_status(self.store, obj, status):  # only when it changed: one event per change
            involved = {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            }
            self.events.record(involved, Event("Warning", "InvalidPolicy", problem), now=now)

    def report(self, outcomes: Sequence[Outcome], *, now: float) -> None:
        """Status of ScalingPolicy objects, and events, for one sync."""
        if self.events is None:
            return
        for outcome in outcomes:
            if outcome.error_reason == "NotLeader":
                continue  # the new leader reports; a stale status must not overwrite it
            obj = self._objects.get(outcome.target.key)
            if obj is not None and self.store is not None:
                generation = (obj.get("metadata") or {}).get("generation")
                previous = obj.get("status") or {}
                status = status_document(outcome, previous, now=now, generation=generation)
                if write_status(self.store, obj, status):
                    # What a later report of this listing compares with (a poll between
                    # syncs: loop.activation), so the same status is not written again.
                    self._objects[outcome.target.key] = {**obj, "status": {**previous, **status}}
            events = events_for(outcome)
            involved = self._involved(outcome, now=now) if events else {}
            for event in events:
                self.events.record(involved, event, now=now)

    def _involved(self, outcome: Outcome, *, now: float) -> JSON:
        """The policy object, or for a file policy the workload it scales."""
        target = outcome.target
        if target.uid:
            return EventRecorder.involved_for(target)
        if outcome.error_reason == "FailedGetScale" and self.workload_uids is not None:
            self.workload_uids.forget(target.namespace, target.ref)  # deleted, maybe
        return self._workload(target.namespace, target.ref, now=now)

    def _workload(self, namespace: str, ref: TargetRef, *, now: float) -> JSON:
        """A workload as an event's object, with its uid when it can be read, so that
        `kubectl describe` of the workload lists the event."""
        involved: JSON = {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "name": ref.name,
            "namespace": namespace,
        }
        uid = self.workload_uids.uid(namespace, ref, now=now) if self.workload_uids else None
        if uid is not None:
            involved["uid"] = uid
        return involved
