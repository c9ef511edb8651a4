"""``python -m autoscaler.faults``: run a fault proxy until SIGTERM or SIGINT.

Prints one JSON line with the bound addresses, so a script can start the proxy on port 0 and
read where it landed. Exit codes: 0 after a signal, 2 with one line on stderr for bad arguments
(including unreadable TLS files and invalid ``--rule`` documents), 1 when a port cannot be bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from autoscaler.addresses import host_port
from autoscaler.faults.proxy import FaultProxy
from autoscaler.faults.rules import FaultRule, RuleError, rule_from_json

EXIT_OK = 0
EXIT_START_FAILED = 1
EXIT_BAD_ARGUMENTS = 2


class _ArgumentError(Exception):
    """A bad command line, reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block
        raise _ArgumentError(message)


def _address(text: str) -> tuple[str, int]:
    try:
        return host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rule(text: str) -> FaultRule:
    try:
        return rule_from_json(json.loads(text))
    except (ValueError, RuleError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m autoscaler.faults",
        description="An HTTP/1.1 proxy that injects faults in front of an API server or "
        "Prometheus; rules are managed through the control API (GET/POST/DELETE /rules).",
    )
    parser.add_argument("--upstream", required=True, help="http:// or https:// URL")
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 0), metavar="HOST:PORT")
    parser.add_argument("--control", type=_address, default=("127.0.0.1", 0), metavar="HOST:PORT")
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--upstream-ca", metavar="FILE", help="CA bundle for an https upstream")
    trust.add_argument("--insecure-upstream", action="store_true", help="do not verify it")
    parser.add_argument("--tls-cert", metavar="FILE", help="serve TLS with this certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="and this private key")
    parser.add_argument("--seed", type=int, default=0, help="seed of the probability draws")
    parser.add_argument(
        "--rule", type=_rule, action="append", default=[], help="a rule as JSON (repeatable)"
    )
    return parser


async def _serve(proxy: FaultProxy, rules: list[FaultRule]) -> None:
    for rule in rules:
        proxy.rules.add(rule)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with proxy:
        line = {"proxy": proxy.url, "control": proxy.control_url, "upstream": proxy.upstream}
        print(json.dumps(line), flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        proxy = FaultProxy(
            upstream=args.upstream,
            host=args.listen[0],
            port=args.listen[1],
            control_host=args.control[0],
            control_port=args.control[1],
            upstream_ca=args.upstream_ca,
            insecure_upstream=args.insecure_upstream,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            seed=args.seed,
        )
    except (_ArgumentError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    try:
        asyncio.run(_serve(proxy, args.rule))
    except OSError as exc:
        print(f"error: cannot start the proxy: {exc}", file=sys.stderr)
        return EXIT_START_FAILED
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
