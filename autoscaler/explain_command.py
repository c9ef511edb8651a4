"""``autoscaler explain NAMESPACE/NAME``: why a policy's target has the replicas it has.

It reads what one sync of ``autoscaler run`` reads for that one policy, with the same
access and flags (kubeconfig, policy files or ScalingPolicy objects, metric
declarations, Prometheus): the scale, the pods, the metrics, the status history, and
the other writers the loop saw (its ``ExternalScaleChange`` events). It builds the
snapshot, decides with the core, and prints the decision in words
(:func:`autoscaler.explain.explain_decision`, the renderer of ``decide --explain`` too).
It never writes: no ``/scale`` patch, no status, no event.

``--output json`` prints the snapshot and the decision (the snapshot feeds
``autoscaler decide``); ``--snapshot FILE`` explains a saved one offline. Exit status 0
when explained (a target that cannot be read is explained too), 2 with one line when
the policy cannot be found or the cluster cannot be read.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, TextIO

from autoscaler.run_command import StartError

if TYPE_CHECKING:
    from autoscaler.core.model import Decision, Snapshot
    from autoscaler.kube.api import Api
    from autoscaler.ports import Target
    from autoscaler.run_command import Sources
    from autoscaler.settings import Settings

EXIT_OK = 0
EXIT_UNREADABLE = 2
# The settings of ``autoscaler run`` that change what is read or how it is decided.
SHARED_SETTINGS = (
    "kubeconfig",
    "context",
    "impersonate",
    "policies",
    "metrics_config",
    "policy_crds",
    "tolerance",
    "cpu_initialization_period",
    "initial_readiness_delay",
    "downscale_stabilization",
    "resource_metrics",
    "prometheus_url",
    "prometheus_timeout",
)


class ExplainError(Exception):
    """The policy cannot be found or the cluster cannot be read: one line, exit 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from autoscaler.flags import add_flags
    from autoscaler.settings import Settings

    parser.add_argument(
        "target", nargs="?", metavar="NAMESPACE/NAME", help="the policy (or NAME with -n)"
    )
    parser.add_argument("-n", "--namespace", help="the policy's namespace (default: default)")
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="text or json"
    )
    parser.add_argument(
        "--snapshot",
        metavar="FILE",
        help="explain a saved snapshot offline (a snapshot, or explain's JSON; - for stdin)",
    )
    add_flags(parser, Settings, SHARED_SETTINGS)


def run_explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        if args.snapshot is not None:
            if args.target:
                raise ExplainError("give NAMESPACE/NAME or --snapshot FILE, not both")
            text = _offline(args.snapshot, json_output=args.output == "json")
        else:
            text = _live(args, json_output=args.output == "json")
    except (ExplainError, StartError) as exc:
        print(f"autoscaler explain: {exc}", file=err)
        return EXIT_UNREADABLE
    out.write(text)
    return EXIT_OK


def policy_key(target: str | None, namespace: str | None) -> tuple[str, str]:
    """(namespace, name) from ``NS/NAME``, or ``NAME`` with ``-n NS`` (default: default)."""
    if not target:
        raise ExplainError("which policy? give NAMESPACE/NAME (or NAME with -n NAMESPACE)")
    if "/" in target:
        ns, _, name = target.partition("/")
        if not ns or not name or "/" in name:
            raise ExplainError(f"{target!r}: expected NAMESPACE/NAME")
        if namespace and namespace != ns:
            raise ExplainError(f"{target!r} is in namespace {ns}, not -n {namespace}")
        return ns, name
    return namespace or "default", target


def _live(args: argparse.Namespace, *, json_output: bool) -> str:
    import logging

    from autoscaler import run_command as wiring
    from autoscaler.ports import LoopError

    # Only broken policies are worth a line here; "the CRD is not installed, reading
    # files only" is how a file policy is found, not news.
    logging.getLogger("autoscaler").setLevel(logging.ERROR)
    namespace, name = policy_key(args.target, args.namespace)
    args.namespace = namespace  # only that namespace's policies are read
    settings = wiring._settings(args)
    wiring._check_policies(settings)
    custom = wiring._custom_metrics(settings)
    prometheus_resources = wiring._prometheus_resources(settings)
    api = wiring._connect(settings)
    sources = wiring._sources(api, settings, custom, prometheus_resources, watch=False)
    now = time.time()
    try:
        target = _find(api, settings.policies, settings.policy_crds, namespace, name, now=now)
        return _explain_target(api, sources, settings, target, now=now, json_output=json_output)
    except LoopError as exc:
        raise ExplainError(f"cannot read the cluster: {exc}") from None


def _find(
    api: Api, files: list[str], crds: bool, namespace: str, name: str, *, now: float
) -> Target:
    """The policy, from a ScalingPolicy object or the policy files, as ``run`` loads it
    (without the events and status ``run`` writes about broken ones)."""
    from autoscaler.kube.policies import KubePolicies
    from autoscaler.loop.policies import Policies

    policies = Policies(
        store=KubePolicies(api, namespace=namespace) if crds else None,
        events=None,
        workloads=None,
        files=files,
        namespace=namespace,
        crds=crds,
    )
    found = {t.key: t for t in policies.load(now=now)}
    target = found.get(f"{namespace}/{name}")
    if target is not None:
        return target
    if policies.listing_error is not None:
        raise ExplainError(f"cannot read the cluster: {policies.listing_error}")
    where = []
    if crds:
        where.append(f"no ScalingPolicy {name} in namespace {namespace}")
    if files:
        where.append(f"none in the --policies files ({', '.join(files)})")
    raise ExplainError(f"policy {namespace}/{name} not found: {'; '.join(where)}")


def _explain_target(
    api: Api,
    sources: Sources,
    settings: Settings,
    target: Target,
    *,
    now: float,
    json_output: bool,
) -> str:
    from dataclasses import replace

    from autoscaler.core import decide
    from autoscaler.core.rules import CONFLICT_WINDOW
    from autoscaler.explain_diagnoses import unread_target
    from autoscaler.kube.events import external_change_times
    from autoscaler.loop.controller import Controller, Outcome
    from autoscaler.loop.events import EventRecorder

    controller = Controller(
        scales=sources.scales,
        pods=sources.pods,
        resource_metrics=sources.resource_metrics,
        custom_metrics=sources.custom_metrics,
        settings=settings.decision_settings(),
        dry_run=True,
        can_write=lambda: False,
    )
    read = controller.read(target, now=now)
    label = f"{target.key}: {target.ref}"
    if isinstance(read, Outcome):
        error = read.error or "cannot be read"
        if "Kubernetes API unreachable" in error:
            raise ExplainError(f"cannot read the cluster: {error}")
        diagnosis = unread_target(error, namespace=target.namespace, ref=str(target.ref),
                                  key=target.key)  # fmt: skip
        if json_output:
            document = {"policy": target.key, "target": str(target.ref), "error": error,
                        "snapshot": None, "decision": None, "diagnoses": [diagnosis]}  # fmt: skip
            return json.dumps(document, indent=2) + "\n"
        return f"{label}\n  {read.error_reason}: {error}\nDiagnoses:\n  - {diagnosis}\n"
    selector = sources.scales.get_scale(target.namespace, target.ref).selector
    involved = EventRecorder.involved_for(target)
    changes = external_change_times(api, target.namespace, involved, since=now - CONFLICT_WINDOW)
    snapshot = replace(read, external_changes=changes)
    if target.saved_history is not None:
        # A loop that starts now seeds its windows with the current replicas; the loop
        # that runs has the history it saved in the status instead: explain that one.
        seeded = snapshot.history.recommendations
        snapshot = replace(snapshot, history=replace(snapshot.history, recommendations=seeded[:-1]))
    decision = decide(snapshot)
    if json_output:
        return _json(snapshot, decision, selector=selector, policy=target.key, ref=str(target.ref))
    return _text(f"{label} (selector {selector or '-'})", snapshot, decision, selector=selector)


def _text(name: str, snapshot: Snapshot, decision: Decision, *, selector: str = "") -> str:
    from autoscaler.explain import explain_decision

    return explain_decision(name, snapshot, decision, selector=selector)


def _json(snapshot: Snapshot, decision: Decision, *, selector: str = "", **about: str) -> str:
    from autoscaler.documents import decision_to_document, snapshot_to_document
    from autoscaler.explain_diagnoses import diagnoses

    document = {
        **about,
        "selector": selector,
        "snapshot": snapshot_to_document(snapshot),
        "decision": decision_to_document(decision),
        "diagnoses": diagnoses(snapshot, decision, selector=selector),
    }
    return json.dumps(document, indent=2) + "\n"


def _offline(file: str, *, json_output: bool) -> str:
    """Each snapshot of FILE (a snapshot, a list, or explain's own JSON) explained."""
    from autoscaler.cli import DECIDE_MAX_INPUT_BYTES
    from autoscaler.core import decide
    from autoscaler.decide_input import InputError, read_input, read_snapshots

    try:
        name, raw = read_input(file, max_bytes=DECIDE_MAX_INPUT_BYTES)
        raw, selector = _unwrapped(raw)
        snapshots, _ = read_snapshots(name, raw, now=time.time())
        explained = []
        for snapshot in snapshots:
            decision = decide(snapshot)
            if json_output:
                explained.append(_json(snapshot, decision, selector=selector))
            else:
                explained.append(_text(name, snapshot, decision, selector=selector))
    except InputError as exc:
        raise ExplainError(str(exc)) from None
    return "".join(explained)


def _unwrapped(raw: bytes) -> tuple[bytes, str]:
    """The snapshot inside ``explain --output json``'s document, and its selector."""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw, ""
    if isinstance(data, dict) and "snapshot" in data and "decision" in data:
        if data["snapshot"] is None:
            raise ExplainError("the explained target had no snapshot (it could not be read)")
        return json.dumps(data["snapshot"]).encode(), str(data.get("selector") or "")
    return raw, ""
