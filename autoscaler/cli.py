"""The ``autoscaler`` command line.

Exit codes (docs/snapshots.md): 0 whenever the input parsed (a snapshot's own failure is
data in its result), 2 with one line on stderr when the input is unreadable or not a
snapshot document, 1 when ``validate`` found errors.

``sim`` and ``faults`` are test tooling: an installed wheel (the image) leaves them out
(see setup.py), and then they say in one line where to find them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

from autoscaler import __version__

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def _decide(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.decide_command import run_decide

    global _exit_without_teardown
    _exit_without_teardown = True
    return run_decide(
        args.file, explain=args.explain, out=out, err=err, max_bytes=args.max_input_bytes
    )


DECIDE_MAX_INPUT_BYTES = 32 * 1024 * 1024
"""``decide --max-input-bytes`` by default: any input up to it is decided within 1 GiB of
memory, the worst being a YAML snapshot of minimal pods (docs/decide.md, "Limits")."""


def _byte_count(text: str) -> int:
    """A positive number of bytes, plain or as a Kubernetes quantity (``64Mi``)."""
    from autoscaler.core.quantity import QuantityError, to_milli

    try:
        count = to_milli(text) // 1000
    except QuantityError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a number of bytes such as 64Mi, got {text!r}")
    return count


# Set by commands that leave a large heap behind and nothing to clean up (``decide``).
_exit_without_teardown = False


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.policy.validate import run_validate

    return run_validate(args.paths, out=out, err=err, only_policies=args.only_policies)


def _import_hpa(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.hpa_command import run_import

    return run_import(args, out, err)


def _export_hpa(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.hpa_command import run_export

    return run_export(args, out, err)


def _status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.status_command import run_status

    return run_status(args, out, err)


def _explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.explain_command import run_explain

    return run_explain(args, out, err)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.run_command import run

    return run(args, out, err)


# Where the test tooling lives when an installed wheel left it out.
FROM_A_CHECKOUT = (
    "is test tooling, not part of this install; run it from a source checkout of "
    "podscale (make venv, or pip install -e .)"
)


def _tooling_missing(error: ModuleNotFoundError, module: str) -> bool:
    """Whether ``error`` says ``module`` itself is absent (not one of its imports)."""
    name = error.name or ""
    return name.startswith("autoscaler.") and (module == name or module.startswith(f"{name}."))


def _sim(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        from autoscaler.sim.cli import main as sim_main
    except ModuleNotFoundError as exc:
        if not _tooling_missing(exc, "autoscaler.sim.cli"):
            raise
        print(f"autoscaler sim: the live cluster player {FROM_A_CHECKOUT}", file=err)
        return EXIT_UNREADABLE
    return sim_main(args.args, out=out, err=err)


def _faults(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        from autoscaler.faults.__main__ import main as faults_main
    except ModuleNotFoundError as exc:
        if not _tooling_missing(exc, "autoscaler.faults.__main__"):
            raise
        print(f"autoscaler faults: the fault proxy {FROM_A_CHECKOUT}", file=err)
        return EXIT_UNREADABLE
    return faults_main(args.args)


def _crd(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.crd import run_crd

    return run_crd(out=out)


def _simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.simulate.command import run as run_simulate

    return run_simulate(args, out, err)


def _adapter(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.adapter.command import run as run_adapter

    return run_adapter(args, out, err)


class _OneLineParser(argparse.ArgumentParser):
    """A usage error is one line on stderr and exit status 2, pointing at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_UNREADABLE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Command(_OneLineParser):
    """A subcommand whose arguments are added when it is used (parsed or shown).

    ``run`` and ``adapter`` generate their flags from pydantic-settings models, whose
    import costs about a second: ``autoscaler decide`` must not pay it.
    """

    def __init__(
        self,
        *args: Any,
        arguments: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._arguments = arguments

    def _add_arguments(self) -> None:
        if self._arguments is not None:
            arguments, self._arguments = self._arguments, None
            arguments(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._add_arguments()
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:  # named here, with the command, rather than by the top-level parser
            self.error("unrecognized arguments: " + " ".join(extras))
        return parsed, extras

    def format_help(self) -> str:
        self._add_arguments()
        return super().format_help()

    def format_usage(self) -> str:
        self._add_arguments()
        return super().format_usage()


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    from autoscaler.run_command import add_arguments

    add_arguments(parser)


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    from autoscaler.explain_command import add_arguments

    add_arguments(parser)


def _adapter_arguments(parser: argparse.ArgumentParser) -> None:
    from autoscaler.adapter.command import add_arguments

    add_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="autoscaler",
        description="Podscale: an HPA-compatible autoscaler for Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"podscale {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Command
    )

    decide = commands.add_parser(
        "decide",
        help="what would the autoscaler do now, and why (offline, from a snapshot)",
        description="Decide one target from a frozen snapshot (JSON or YAML; a list gives a "
        "list of results). Without FILE, explains a bundled example.",
    )
    decide.add_argument("file", nargs="?", help="snapshot file, or - for standard input")
    mode = decide.add_mutually_exclusive_group()
    mode.add_argument(
        "--explain",
        dest="explain",
        action="store_true",
        default=None,
        help="print a readable explanation instead of JSON",
    )
    mode.add_argument(
        "--json",
        dest="explain",
        action="store_false",
        help="print JSON (the default when FILE is given)",
    )
    decide.add_argument(
        "--max-input-bytes",
        type=_byte_count,
        default=DECIDE_MAX_INPUT_BYTES,
        metavar="BYTES",
        help="refuse larger input (default 32Mi; bytes, or a quantity such as 128Mi)",
    )
    decide.set_defaults(handler=_decide)

    validate = commands.add_parser(
        "validate",
        help="check ScalingPolicy (and HorizontalPodAutoscaler) files",
        description="Validate policy files or folders (as written, or as kubectl get -o yaml "
        "prints them: read-only metadata, status, kind List); exit 1 on any error.",
    )
    validate.add_argument(
        "paths", nargs="+", metavar="PATH", help="file or folder, or - for standard input"
    )
    validate.add_argument(
        "--only-policies",
        action="store_true",
        help="skip documents of other kinds silently (default: skip each with a warning)",
    )
    validate.set_defaults(handler=_validate)

    from autoscaler.hpa_command import add_export_arguments, add_import_arguments

    import_hpa = commands.add_parser(
        "import-hpa",
        help="HorizontalPodAutoscalers -> ScalingPolicies with the same spec",
        description="Write a ScalingPolicy (YAML, one document each) for every HPA in the "
        "files (or kubectl get hpa -o yaml on stdin: -) or, with --from-cluster, in the "
        "cluster: same name, namespace, labels and spec (v1 HPAs converted as the API "
        "server converts them). Exit 1 on an invalid document, 2 on unreadable input.",
    )
    add_import_arguments(import_hpa)
    import_hpa.set_defaults(handler=_import_hpa)

    export_hpa = commands.add_parser(
        "export-hpa",
        help="ScalingPolicies -> native autoscaling/v2 HorizontalPodAutoscalers",
        description="Write the autoscaling/v2 HPA with each policy's spec; Podscale's own "
        "fields are dropped with a warning naming them. Exit 1 on an invalid policy.",
    )
    add_export_arguments(export_hpa)
    export_hpa.set_defaults(handler=_export_hpa)

    from autoscaler.status_command import add_arguments as add_status_arguments

    status = commands.add_parser(
        "status",
        help="the ScalingPolicies as kubectl get hpa shows HPAs (needs a cluster)",
        description="One row per ScalingPolicy from its status: target, current/target per "
        "metric, bounds, replicas, mode, the path that decided last, last scale, conditions. "
        "Exit 2 when the cluster cannot be read.",
    )
    add_status_arguments(status)
    status.set_defaults(handler=_status)

    explain = commands.add_parser(
        "explain",
        help="why a policy's target has its replicas, with the arithmetic (needs a cluster)",
        description="Read what one sync reads for the policy NAMESPACE/NAME (never writing "
        "anything), decide, and explain each metric's arithmetic, the pods counted, the "
        "windows and limits, Podscale's paths, and what is wrong. --output json gives the "
        "snapshot that autoscaler decide replays; --snapshot FILE explains one offline. "
        "Exit 2 when the policy cannot be found or the cluster cannot be read.",
        arguments=_explain_arguments,
    )
    explain.set_defaults(handler=_explain)

    run = commands.add_parser(
        "run",
        help="the control loop: scale targets by their policies (needs a cluster)",
        description="Sync every policy each period: read the target's scale, pods and "
        "metrics, decide like the HPA, patch /scale. Every flag is also the AUTOSCALER_* "
        "variable shown in its help; the flag wins.",
        arguments=_run_arguments,
    )
    run.set_defaults(handler=_run)

    sim = commands.add_parser(
        "sim",
        help="test tooling: play kubelets, metrics and traffic (autoscaler sim run --help)",
        description="The simulator's commands: autoscaler sim run --help.",
    )
    sim.add_argument("args", nargs=argparse.REMAINDER, help="autoscaler sim's own arguments")
    sim.set_defaults(handler=_sim)

    faults = commands.add_parser(
        "faults",
        help="test tooling: a fault-injection proxy (autoscaler faults --help)",
        description="python -m autoscaler.faults: a fault-injection proxy for our tests.",
        add_help=False,
    )
    faults.add_argument("args", nargs="*", help="the proxy's own arguments")
    faults.set_defaults(handler=_faults)

    crd = commands.add_parser(
        "crd",
        help="print the ScalingPolicy CustomResourceDefinition (kubectl apply -f -)",
        description="Print the ScalingPolicy CRD, its schema generated from the policy models.",
    )
    crd.set_defaults(handler=_crd)

    from autoscaler.simulate.command import add_arguments as simulate_arguments

    simulate = commands.add_parser(
        "simulate",
        help="replay a traffic trace through the real loop in virtual time (no cluster)",
        description="Replay a trace through the control loop on the simulator's pod model "
        "and report SLO-miss minutes, dropped and slow requests, cost and flaps, each policy "
        "against its hpa-default (docs/simulate.md). Without POLICY: the bundled example "
        "against hpa-default on a day of real traffic, chart in simulate-demo/.",
    )
    simulate_arguments(simulate)
    simulate.set_defaults(handler=_simulate)

    adapter = commands.add_parser(
        "adapter",
        help="serve external.metrics.k8s.io from Prometheus, for native HPAs",
        description="The external metrics API (aggregated API server): declared External "
        "metrics from a cache refreshed in the background; other names to --upstream. "
        "Every flag is also the variable shown in its help; the flag wins.",
        arguments=_adapter_arguments,
    )
    adapter.set_defaults(handler=_adapter)
    return parser


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["faults"]:  # every later word is the proxy's, --help and all
        words.insert(1, "--")
    args = build_parser().parse_args(words)
    try:
        code: int = args.handler(args, out, err)
    except KeyboardInterrupt:
        print("autoscaler: interrupted", file=err)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    return code


def console() -> None:
    """The ``autoscaler`` executable: ``main()``, then exit with its code.

    A ``decide`` batch of 10,000 snapshots leaves about a million small objects; freeing
    them one by one at interpreter exit takes a tenth of the run, while the operating
    system reclaims the memory at once. So after ``decide`` the process flushes its
    output and ends without the teardown (as mypy does); every other command exits
    normally, running its cleanup handlers.
    """
    code = main()
    if _exit_without_teardown:
        with contextlib.suppress(BrokenPipeError):  # the reader left: nothing to tell it
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
