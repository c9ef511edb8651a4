"""``autoscaler status [-n NS | -A] [--watch]``: the ScalingPolicies as ``kubectl get hpa``.

Everything comes from the objects' ``status``, which the loop writes every time
something changes: the command needs read access to ScalingPolicies and nothing else
(the ``podscale-view`` role). ``--watch`` lists again every ``--interval`` seconds and
prints the rows that changed, as ``kubectl get -w`` does, until interrupted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TextIO

from autoscaler.status_text import age, condition_summary, targets_text

JSON = Mapping[str, Any]
EXIT_OK: Final = 0
EXIT_UNREADABLE: Final = 2
HEADERS: Final = (
    "NAME",
    "REFERENCE",
    "TARGETS",
    "MINPODS",
    "MAXPODS",
    "REPLICAS",
    "DESIRED",
    "MODE",
    "PATH",
    "LAST SCALE",
    "CONDITIONS",
    "AGE",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="the namespace (default: default)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    parser.add_argument("-w", "--watch", action="store_true", help="print rows as they change")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between lists with --watch"
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ...)")
    parser.add_argument("--context", help="kubeconfig context")


def row(obj: JSON, *, now: float, with_namespace: bool) -> list[str]:
    """One policy as the table's cells."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    targets = status.get("targets") or targets_text(
        spec.get("metrics") or [_DEFAULT_CPU], status.get("currentMetrics") or []
    )
    cells = [
        str(meta.get("name", "")),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        targets,
        _or_dash(spec.get("minReplicas", 1)),
        _or_dash(spec.get("maxReplicas")),
        _or_dash(status.get("currentReplicas")),
        _or_dash(status.get("desiredReplicas")),
        str(spec.get("mode") or "Enforce"),
        str(status.get("path") or "-"),
        _since(status.get("lastScaleTime"), now),
        condition_summary(status.get("conditions") or []),
        _since(meta.get("creationTimestamp"), now),
    ]
    return [str(meta.get("namespace", "")), *cells] if with_namespace else cells


_DEFAULT_CPU: Final = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _since(stamp: Any, now: float) -> str:
    """An RFC 3339 time as an age (``<none>`` when absent or unreadable)."""
    from datetime import datetime

    if not isinstance(stamp, str):
        return "<none>"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return "<none>"
    return age(now - then)


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Columns padded to their widest cell and three spaces apart, as kubectl prints."""
    widths = _widths(rows, headers)
    return "".join(_line(r, widths) for r in (headers, *rows))


def _widths(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> list[int]:
    return [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """One row, each cell padded to its column (a --watch row keeps the first list's)."""
    return "   ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip() + "\n"


def run_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.kube.api import Api, connect
    from autoscaler.kube.policies import KubePolicies
    from autoscaler.ports import LoopError, NotFound

    namespace = None if args.all_namespaces else (args.namespace or "default")
    headers = ("NAMESPACE", *HEADERS) if args.all_namespaces else HEADERS
    try:
        store = KubePolicies(Api(connect(args.kubeconfig, args.context)), namespace=namespace)
        listed = _rows(store.objects, with_namespace=args.all_namespaces)
    except NotFound:
        print("autoscaler status: the ScalingPolicy CRD is not installed", file=err)
        return EXIT_UNREADABLE
    except LoopError as exc:
        print(f"autoscaler status: {exc}", file=err)
        return EXIT_UNREADABLE
    if not listed and not args.watch:
        where = "any namespace" if namespace is None else f"{namespace} namespace"
        print(f"No ScalingPolicies found in {where}.", file=err)
        return EXIT_OK
    out.write(table(listed, headers))
    out.flush()
    if args.watch:
        return _watch(lambda: _rows(store.objects, with_namespace=args.all_namespaces),
                      listed, headers, args.interval, out, err)  # fmt: skip
    return EXIT_OK


def _rows(objects: Callable[[], list[Any]], *, with_namespace: bool) -> list[list[str]]:
    now = time.time()
    found = sorted(
        objects(),
        key=lambda o: ((o.get("metadata") or {}).get("namespace", ""), o["metadata"]["name"]),
    )
    return [row(o, now=now, with_namespace=with_namespace) for o in found]


def _watch(
    relist: Callable[[], list[list[str]]],
    shown: list[list[str]],
    headers: Sequence[str],
    interval: float,
    out: TextIO,
    err: TextIO,
) -> int:
    """Print each row whose cells changed (ages aside) since it was last printed."""
    from autoscaler.ports import LoopError

    widths = _widths(shown, headers)
    age_columns = {headers.index("AGE"), headers.index("LAST SCALE")}

    def key(cells: Sequence[str]) -> tuple[str, ...]:
        return tuple(c for i, c in enumerate(cells) if i not in age_columns)

    last = {tuple(r[:2]): key(r) for r in shown}
    try:
        while True:
            time.sleep(interval)
            try:
                rows = relist()
            except LoopError as exc:
                print(f"autoscaler status: {exc} (retrying)", file=err)
                continue
            for cells in rows:
                name = tuple(cells[:2])
                if last.get(name) != key(cells):
                    last[name] = key(cells)
                    out.write(_line(cells, widths))
                    out.flush()
    except KeyboardInterrupt:
        return EXIT_OK
