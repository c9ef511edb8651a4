"""``autoscaler import-hpa`` and ``autoscaler export-hpa``: HPAs <-> ScalingPolicies.

Both read documents as ``validate`` does (files, folders, ``-``, ``kind: List``, what
``kubectl get -o yaml`` prints) and write YAML documents, one per object, on stdout.
Nothing is written unless every input document is valid: a pipe into ``kubectl
apply -f -`` never applies half a migration. Exit codes: 0 done, 1 an invalid document
(one line each on stderr, with file and line), 2 nothing could be read (a missing file,
an unreachable cluster).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any, Final, TextIO

import yaml

from autoscaler.policy.convert import hpa_document, policy_document
from autoscaler.policy.document import HPA_KIND, to_policy
from autoscaler.policy.issues import Issue, format_path
from autoscaler.policy.loader import load_policies
from autoscaler.policy.model import KIND, MODES, ScalingPolicy

EXIT_OK: Final = 0
EXIT_INVALID: Final = 1
EXIT_UNREADABLE: Final = 2
HPA_VERSIONS_NEWEST_FIRST: Final = ("autoscaling/v2", "autoscaling/v2beta2")
_DUMPER: Final[type[yaml.SafeDumper]] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_CLUSTER_FLAGS: Final = {
    "-n": "namespace",
    "-A": "all_namespaces",
    "--kubeconfig": "kubeconfig",
    "--context": "context",
}
Located = tuple[ScalingPolicy, str, str, int | None]  # written, origin, where, line


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="FILE", help="file or folder, - for stdin")
    parser.add_argument(
        "--from-cluster",
        action="store_true",
        help="read the HPAs from the cluster (kubeconfig) instead of files",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="with --from-cluster (default: default)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="with --from-cluster")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ...)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument(
        "--mode", choices=MODES, help="set spec.mode (DryRun: shadow the HPA first)"
    )


def run_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Every HPA in the input as a ScalingPolicy with the same spec."""
    if args.from_cluster == bool(args.paths):
        print("autoscaler import-hpa: give FILE... or --from-cluster (one of them)", file=err)
        return EXIT_UNREADABLE
    cluster_only = [
        f for f, v in _CLUSTER_FLAGS.items() if getattr(args, v) and not args.from_cluster
    ]
    if cluster_only:
        print(f"autoscaler import-hpa: {cluster_only[0]} needs --from-cluster", file=err)
        return EXIT_UNREADABLE
    if args.from_cluster:
        read = _from_cluster(args, err)
        if read is None:
            return EXIT_UNREADABLE
        found, errors, warnings = read
    else:
        found, errors, warnings, unreadable = _from_files(args.paths)
        if unreadable:
            _report(errors + warnings, err)
            return EXIT_UNREADABLE
    kept = []
    for written, origin, where, line in found:
        if origin.endswith(f" {KIND}"):
            skip = Issue("warning", where, line, "kind", "already a ScalingPolicy: skipped")
            warnings.append(skip)
        else:
            kept.append(written)
    _report(errors + warnings, err)
    if errors:
        return EXIT_INVALID
    _write([policy_document(w, mode=args.mode) for w in kept], out)
    print(f"{_count(len(kept), 'HorizontalPodAutoscaler')} imported", file=err)
    return EXIT_OK


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="POLICY", help="file or folder, - for stdin")
    parser.add_argument(
        "--metrics-config",
        action="append",
        metavar="PATH",
        help="the MetricDeclarations autoscaler adapter serves (file or folder; repeatable): "
        "check each External metric",
    )


def run_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Every policy in the input as a native ``autoscaling/v2`` HPA."""
    served = None
    if args.metrics_config:
        served = _served_external(args.metrics_config, err)
        if served is None:
            return EXIT_UNREADABLE
    result = load_policies(args.paths, foreign="warn")
    errors, warnings = result.errors, list(result.skipped)
    documents = []
    for loaded in result.policies:
        hpa, findings = hpa_document(loaded.written, served=served)
        documents.append(hpa)
        warnings += [
            Issue("warning", loaded.file, loaded.line_of(f.path), format_path(f.path), f.message)
            for f in findings
        ]
    _report(errors + warnings, err)
    if _unreadable(errors):
        return EXIT_UNREADABLE
    if errors:
        return EXIT_INVALID
    _write(documents, out)
    return EXIT_OK


def _served_external(paths: list[str], err: TextIO) -> frozenset[str] | None:
    """The External metric names the declarations in ``paths`` give the adapter; None
    (after one line on ``err`` per problem) when they cannot be read."""
    from autoscaler.metrics.declarations import load_declarations

    loaded = load_declarations(paths)
    if loaded.errors:
        _report(loaded.errors, err)
        return None
    return frozenset(n for n, d in loaded.metrics.items() if d.type == "External")


def _from_files(paths: Iterable[str]) -> tuple[list[Located], list[Issue], list[Issue], bool]:
    """The policies read (HPAs as policies), errors, warnings, and whether a path
    could not be read at all."""
    result = load_policies(paths, foreign="warn")
    found: list[Located] = [(p.written, p.origin, p.file, p.line) for p in result.policies]
    return found, result.errors, list(result.skipped), _unreadable(result.errors)


def _unreadable(errors: list[Issue]) -> bool:
    """Whether a path given could not be read at all (exit 2, not 1)."""
    return any(
        issue.line is None and issue.message.startswith(("no such file", "cannot read"))
        for issue in errors
    )


def _from_cluster(
    args: argparse.Namespace, err: TextIO
) -> tuple[list[Located], list[Issue], list[Issue]] | None:
    """The cluster's HPAs (newest API version served) read as documents are; None when
    the cluster cannot be read (said on ``err``)."""
    from autoscaler.kube.api import Api, connect
    from autoscaler.ports import LoopError, NotFound

    scope = "" if args.all_namespaces else f"/namespaces/{args.namespace or 'default'}"
    try:
        api = Api(connect(args.kubeconfig, args.context))
        for version in HPA_VERSIONS_NEWEST_FIRST:
            try:
                listed = api.call("GET", f"/apis/{version}{scope}/horizontalpodautoscalers")
                break
            except NotFound:
                if version == HPA_VERSIONS_NEWEST_FIRST[-1]:
                    raise
    except LoopError as exc:
        print(f"autoscaler import-hpa: {exc}", file=err)
        return None
    found: list[Located] = []
    errors: list[Issue] = []
    for item in listed.get("items") or []:
        document = {"apiVersion": version, "kind": HPA_KIND, **item}
        meta = item.get("metadata") or {}
        where = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        parsed = to_policy(document)
        if isinstance(parsed, list):
            errors += [Issue("error", where, None, format_path(f.path), f.message) for f in parsed]
        else:
            found.append((parsed[0], parsed[1], where, None))
    return found, errors, []


def _report(issues: list[Issue], err: TextIO) -> None:
    for issue in issues:
        print(issue.format(), file=err)


def _write(documents: list[dict[str, Any]], out: TextIO) -> None:
    """YAML documents, fields in the order written (libyaml's emitter when installed:
    the pure-Python one takes seconds for a cluster's worth of HPAs)."""
    text = yaml.dump_all(documents, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)
    out.write(text)


def _count(number: int, singular: str) -> str:
    return f"{number} {singular}{'' if number == 1 else 's'}"
