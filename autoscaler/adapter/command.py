"""``autoscaler adapter``: serve ``external.metrics.k8s.io/v1beta1`` from Prometheus.

Argument problems, unreadable declarations and certificates are one line on stderr and
exit 2, before anything listens. Without TLS flags the adapter refuses to start unless
``--insecure-dev`` says this is a laptop (then plain HTTP, nobody authenticated, logged
as a warning at start). Connections pass the guard of :mod:`autoscaler.adapter.guard`,
whose limits (:class:`autoscaler.adapter.serving.ServingLimits`) are flags here and
``AUTOSCALER_ADAPTER_*`` variables.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

EXIT_OK = 0
EXIT_USAGE = 2
log = logging.getLogger("autoscaler.adapter")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--metrics-config",
        nargs="+",
        required=True,
        metavar="PATH",
        help="MetricDeclarations files or folders (the External metrics are served)",
    )
    add("--prometheus-url", required=True, metavar="URL", help="e.g. http://prometheus:9090")
    add("--listen", default="127.0.0.1:6443", metavar="HOST:PORT", help="default %(default)s")
    add("--tls-cert", metavar="FILE", help="serving certificate (PEM), reloaded on change")
    add("--tls-key", metavar="FILE", help="its private key (PEM)")
    add("--self-signed", action="store_true", help="generate a self-signed pair at start")
    add(
        "--tls-san",
        nargs="+",
        default=[],
        metavar="NAME",
        help="extra names for --self-signed (the Service's <name>.<namespace>.svc)",
    )
    add(
        "--requestheader-client-ca-file",
        metavar="FILE",
        help="front-proxy CA: client certs it signed may set X-Remote-User/-Group "
        "(default: the cluster's, from kube-system/extension-apiserver-authentication)",
    )
    add(
        "--requestheader-allowed-names",
        nargs="+",
        default=[],
        metavar="NAME",
        help="common names allowed to use the request headers (default: any)",
    )
    add("--kubeconfig", metavar="FILE", help="for TokenReview/SubjectAccessReview calls")
    add(
        "--upstream",
        nargs="+",
        default=[],
        metavar="URL",
        help="external-metrics servers answering the names not declared here",
    )
    add("--upstream-ca-file", metavar="FILE", help="CA of the upstream's serving cert")
    add("--upstream-insecure-skip-tls-verify", action="store_true")
    add("--upstream-token-file", metavar="FILE", help="bearer token sent to the upstream")
    add("--upstream-client-cert", metavar="FILE")
    add("--upstream-client-key", metavar="FILE")
    add(
        "--namespaces",
        nargs="+",
        default=[],
        metavar="NS",
        help="serve only these namespaces (default: all)",
    )
    add(
        "--cache-ttl",
        type=float,
        default=10.0,
        metavar="S",
        help="refresh period of metrics without cacheTTL (default %(default)s)",
    )
    add(
        "--direct",
        action="store_true",
        help="query Prometheus on every request instead of the cache (for comparison)",
    )
    limits = parser.add_argument_group(
        "connection limits", "each also an AUTOSCALER_ADAPTER_* variable (docs/adapter.md)"
    )
    for name, kind, what in _LIMIT_FLAGS:
        limits.add_argument(f"--{name}", type=kind, metavar="N", help=what)
    add(
        "--insecure-dev",
        action="store_true",
        help="NO authentication or authorization; plain HTTP without TLS flags (laptops)",
    )


_LIMIT_FLAGS = (
    ("max-connections", int, "open connections, more are closed at once (256)"),
    ("handshake-timeout", float, "seconds to finish the TLS handshake (10)"),
    ("header-timeout", float, "seconds to send a request line and headers (10)"),
    ("keep-alive-timeout", int, "seconds an idle connection stays open (5)"),
    ("max-head-bytes", int, "bytes of request line and headers, more is a 413 (16384)"),
)


class UsageError(Exception):
    """A bad argument or input file; one line."""


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    logging.basicConfig(stream=err, level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        server, cleanup = _build(args)
    except UsageError as exc:
        print(f"autoscaler adapter: {exc}", file=err)
        return EXIT_USAGE
    try:
        server.run()
    finally:
        cleanup()
    return EXIT_OK


def _build(args: argparse.Namespace) -> tuple[Any, Any]:
    from autoscaler.adapter import tls
    from autoscaler.adapter.app import create_app
    from autoscaler.adapter.serving import make_server

    host, port = _listen(args.listen)
    limits = limits_from(args)
    files = _tls_files(args)
    if args.insecure_dev:
        log.warning(
            "adapter: --insecure-dev: NO AUTHENTICATION AND NO AUTHORIZATION: anyone who can "
            "reach %s:%d reads every metric. Never use this in a cluster.",
            host,
            port,
        )
    context = tls.server_context(files) if files else None
    reloader = tls.CertificateReloader(context, files) if context and files else None
    app = create_app(**_collaborators(args))
    server = make_server(app, host=host, port=port, context=context, limits=limits)
    if reloader:
        reloader.start()
    scheme = "https" if context else "http"
    log.info(
        "adapter: serving %s://%s:%d%s (at most %d connections, handshake %gs, headers %gs)",
        scheme,
        host,
        port,
        "/apis/external.metrics.k8s.io",
        limits.max_connections,
        limits.handshake_timeout,
        limits.header_timeout,
    )
    return server, (reloader.stop if reloader else (lambda: None))


def limits_from(args: argparse.Namespace) -> Any:
    """The connection limits: AUTOSCALER_ADAPTER_* variables, overridden by the flags."""
    from pydantic import ValidationError

    from autoscaler.adapter.serving import ServingLimits

    flags = {n.replace("-", "_") for n, _, _ in _LIMIT_FLAGS}
    given = {k: v for k, v in vars(args).items() if k in flags and v is not None}
    try:
        return ServingLimits(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "limits"
        flag, variable = "--" + name.replace("_", "-"), "AUTOSCALER_ADAPTER_" + name.upper()
        raise UsageError(f"{flag} ({variable}): {first['msg']}") from None


def _collaborators(args: argparse.Namespace) -> dict[str, Any]:
    from autoscaler.adapter.auth import AuthSettings, KubeReviewer
    from autoscaler.adapter.cache import CacheSettings, LabelCapture, MetricCache
    from autoscaler.adapter.settings import AdapterSettings
    from autoscaler.adapter.upstream import Upstream, UpstreamSettings
    from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource

    external = _declarations(args.metrics_config)
    if not external and not args.upstream:
        raise UsageError("no External metrics declared in " + ", ".join(args.metrics_config))
    if args.cache_ttl <= 0:
        raise UsageError(f"--cache-ttl must be positive (got {args.cache_ttl:g})")
    prometheus = PrometheusSettings(url=args.prometheus_url)
    capture = LabelCapture(PrometheusSource(settings=prometheus)._query)
    source = PrometheusSource(settings=prometheus, runner=capture)
    cache = MetricCache(
        source=source, capture=capture, settings=CacheSettings(default_ttl=args.cache_ttl)
    )
    reviewer = None
    if not args.insecure_dev:
        from autoscaler.ports import LoopError

        try:
            reviewer = KubeReviewer(_cluster_api(args.kubeconfig))
        except LoopError as exc:
            raise UsageError(str(exc)) from None
    upstream = None
    if args.upstream:
        upstream = Upstream(
            [
                UpstreamSettings(
                    url=url,
                    ca_file=args.upstream_ca_file,
                    insecure_skip_verify=args.upstream_insecure_skip_tls_verify,
                    client_cert=args.upstream_client_cert,
                    client_key=args.upstream_client_key,
                    token_file=args.upstream_token_file,
                )
                for url in args.upstream
            ]
        )
    return {
        "settings": AdapterSettings(
            external=external, namespaces=frozenset(args.namespaces), direct=args.direct
        ),
        "cache": cache,
        "auth": AuthSettings(
            allowed_names=frozenset(args.requestheader_allowed_names),
            insecure_dev=args.insecure_dev,
        ),
        "reviewer": reviewer,
        "upstream": upstream,
    }


def _declarations(paths: list[str]) -> dict[str, Any]:
    from autoscaler.metrics.declarations import load_declarations

    loaded = load_declarations(paths)
    if loaded.errors:
        more = f" (and {len(loaded.errors) - 1} more)" if len(loaded.errors) > 1 else ""
        raise UsageError(loaded.errors[0].format() + more)
    return {n: d for n, d in loaded.metrics.items() if d.type == "External"}


AUTHENTICATION_CONFIG = (
    "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
)


def front_proxy_settings(api: Any) -> tuple[str, list[str]] | None:
    """The front-proxy CA (PEM) and allowed names the API server publishes for
    aggregated servers, or None when it publishes none (no aggregation layer)."""
    from autoscaler.ports import NotFound

    try:
        data = api.call("GET", AUTHENTICATION_CONFIG).get("data") or {}
    except NotFound:
        return None
    ca = str(data.get("requestheader-client-ca-file") or "")
    if not ca.strip():
        return None
    try:
        names = json.loads(data.get("requestheader-allowed-names") or "[]")
    except ValueError:
        names = []
    return ca, [str(n) for n in names if n]


def _front_proxy_from_cluster(args: argparse.Namespace) -> str | None:
    """Without --requestheader-client-ca-file, trust the front proxy the cluster names,
    as Kubernetes' own aggregated servers do (the RoleBinding to
    extension-apiserver-authentication-reader in deploy/ allows the read). Unreadable:
    one warning, and only bearer tokens authenticate."""
    from autoscaler.ports import LoopError

    try:
        found = front_proxy_settings(_cluster_api(args.kubeconfig))
    except LoopError as exc:
        log.warning("adapter: cannot read %s: %s", AUTHENTICATION_CONFIG, exc)
        return None
    if found is None:
        log.warning("adapter: the cluster publishes no front-proxy CA: bearer tokens only")
        return None
    ca, names = found
    folder = Path(tempfile.mkdtemp(prefix="podscale-adapter-front-proxy-"))
    (folder / "ca.crt").write_text(ca)
    if not args.requestheader_allowed_names:
        args.requestheader_allowed_names = names
    log.info("adapter: front-proxy CA from %s", AUTHENTICATION_CONFIG)
    return str(folder / "ca.crt")


@functools.cache
def _cluster_api(kubeconfig: str | None) -> Any:
    """The one API connection the adapter makes (front-proxy CA, then the reviews)."""
    from autoscaler.kube.api import Api, connect

    return Api(connect(kubeconfig))


def _listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen must be HOST:PORT (got {text!r})")
    return host.strip("[]"), int(port)


def _tls_files(args: argparse.Namespace) -> Any:
    from autoscaler.adapter import tls

    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.tls_cert and args.self_signed:
        raise UsageError("use either --tls-cert/--tls-key or --self-signed")
    ca = args.requestheader_client_ca_file
    if ca and not Path(ca).is_file():
        raise UsageError(f"--requestheader-client-ca-file {ca}: no such file")
    if not ca and (args.tls_cert or args.self_signed) and not args.insecure_dev:
        ca = _front_proxy_from_cluster(args)
    if args.tls_cert:
        return tls.TLSFiles(cert=args.tls_cert, key=args.tls_key, client_ca=ca)
    if args.self_signed:
        names = ["localhost", "127.0.0.1", *args.tls_san]
        directory = Path(tempfile.mkdtemp(prefix="podscale-adapter-tls-"))
        try:
            made = tls.self_signed(directory, names)
        except tls.TLSError as exc:
            raise UsageError(str(exc)) from None
        log.info("adapter: self-signed certificate in %s (CA bundle: tls.crt)", directory)
        return tls.TLSFiles(cert=made.cert, key=made.key, client_ca=ca)
    if not args.insecure_dev:
        raise UsageError("needs --tls-cert/--tls-key or --self-signed (or --insecure-dev)")
    return None


def main() -> None:  # pragma: no cover - python -m autoscaler.adapter.command
    parser = argparse.ArgumentParser(prog="autoscaler adapter")
    add_arguments(parser)
    sys.exit(run(parser.parse_args(), sys.stdout, sys.stderr))
