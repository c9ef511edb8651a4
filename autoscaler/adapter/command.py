"""``autoscaler adapter``: serve ``external.metrics.k8s.io/v1beta1`` from Prometheus.

Its flags and variables are generated from :class:`autoscaler.adapter.options.AdapterOptions`.
Argument problems, unreadable declarations and certificates are one line on stderr and
exit 2, before anything listens. Without TLS flags the adapter refuses to start unless
``--insecure-dev`` says this is a laptop (then plain HTTP, nobody authenticated, logged
as a warning at start). Connections pass the guard of :mod:`autoscaler.adapter.guard`,
whose limits (:class:`autoscaler.adapter.serving.ServingLimits`) are options too.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # pydantic-settings loads when the adapter runs, not for `autoscaler decide`
    from autoscaler.adapter.options import AdapterOptions

EXIT_OK = 0
EXIT_USAGE = 2
log = logging.getLogger("autoscaler.adapter")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field of :class:`AdapterOptions`, generated (:mod:`autoscaler.flags`)."""
    from autoscaler.adapter.options import AdapterOptions
    from autoscaler.adapter.serving import ServingLimits
    from autoscaler.flags import add_flags

    limits = set(ServingLimits.model_fields)
    add_flags(parser, AdapterOptions, [f for f in AdapterOptions.model_fields if f not in limits])
    group = parser.add_argument_group(
        "connection limits", "what a connection may cost before it is closed (docs/adapter.md)"
    )
    add_flags(group, AdapterOptions, limits)


class UsageError(Exception):
    """A bad argument or input file; one line."""


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    logging.basicConfig(stream=err, level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        server, cleanup = _build(options_from(args))
    except UsageError as exc:
        print(f"autoscaler adapter: {exc}", file=err)
        return EXIT_USAGE
    try:
        server.run()
    finally:
        cleanup()
    return EXIT_OK


def options_from(args: argparse.Namespace) -> AdapterOptions:
    """Flags over ``AUTOSCALER_ADAPTER_*`` (and the shared ``AUTOSCALER_*``) variables."""
    from autoscaler.adapter.options import AdapterOptions
    from autoscaler.flags import SettingsError, settings_from

    try:
        return settings_from(AdapterOptions, args)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


def _build(options: AdapterOptions) -> tuple[Any, Any]:
    from autoscaler.adapter import tls
    from autoscaler.adapter.app import create_app
    from autoscaler.adapter.serving import make_server

    host, port = options.host_port
    _check_tls(options)
    options = _with_cluster_front_proxy(options)
    files = _tls_files(options)
    if options.insecure_dev:
        log.warning(
            "adapter: --insecure-dev: NO AUTHENTICATION AND NO AUTHORIZATION: anyone who can "
            "reach %s:%d reads every metric. Never use this in a cluster.",
            host,
            port,
        )
    context = tls.server_context(files) if files else None
    reloader = tls.CertificateReloader(context, files) if context and files else None
    app = create_app(**_collaborators(options))
    server = make_server(app, host=host, port=port, context=context, limits=options)
    if reloader:
        reloader.start()
    scheme = "https" if context else "http"
    log.info(
        "adapter: serving %s://%s:%d%s (at most %d connections, handshake %gs, headers %gs)",
        scheme,
        host,
        port,
        "/apis/external.metrics.k8s.io",
        options.max_connections,
        options.handshake_timeout,
        options.header_timeout,
    )
    return server, (reloader.stop if reloader else (lambda: None))


def _collaborators(options: AdapterOptions) -> dict[str, Any]:
    from autoscaler.adapter.auth import AuthSettings, KubeReviewer
    from autoscaler.adapter.cache import CacheSettings, LabelCapture, MetricCache
    from autoscaler.adapter.settings import AdapterSettings
    from autoscaler.adapter.upstream import Upstream, UpstreamSettings
    from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource

    external = _declarations(options.metrics_config)
    if not external and not options.upstream:
        raise UsageError("no External metrics declared in " + ", ".join(options.metrics_config))
    prometheus = PrometheusSettings(url=options.prometheus_url)
    capture = LabelCapture(PrometheusSource(settings=prometheus)._query)
    source = PrometheusSource(settings=prometheus, runner=capture)
    cache = MetricCache(
        source=source, capture=capture, settings=CacheSettings(default_ttl=options.cache_ttl)
    )
    reviewer = None
    if not options.insecure_dev:
        from autoscaler.ports import LoopError

        try:
            reviewer = KubeReviewer(_cluster_api(options.kubeconfig))
        except LoopError as exc:
            raise UsageError(str(exc)) from None
    upstream = None
    if options.upstream:
        upstream = Upstream(
            [
                UpstreamSettings(
                    url=url,
                    ca_file=options.upstream_ca_file,
                    insecure_skip_verify=options.upstream_insecure_skip_tls_verify,
                    client_cert=options.upstream_client_cert,
                    client_key=options.upstream_client_key,
                    token_file=options.upstream_token_file,
                )
                for url in options.upstream
            ]
        )
    return {
        "settings": AdapterSettings(
            external=external, namespaces=frozenset(options.namespaces), direct=options.direct
        ),
        "cache": cache,
        "auth": AuthSettings(
            allowed_names=frozenset(options.requestheader_allowed_names),
            insecure_dev=options.insecure_dev,
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


def _with_cluster_front_proxy(options: AdapterOptions) -> AdapterOptions:
    """Without --requestheader-client-ca-file, trust the front proxy the cluster names,
    as Kubernetes' own aggregated servers do (the RoleBinding to
    extension-apiserver-authentication-reader in deploy/ allows the read). Unreadable:
    one warning, and only bearer tokens authenticate."""
    from autoscaler.ports import LoopError

    serves_tls = options.tls_cert or options.self_signed
    if options.requestheader_client_ca_file or not serves_tls or options.insecure_dev:
        return options
    try:
        found = front_proxy_settings(_cluster_api(options.kubeconfig))
    except LoopError as exc:
        log.warning("adapter: cannot read %s: %s", AUTHENTICATION_CONFIG, exc)
        return options
    if found is None:
        log.warning("adapter: the cluster publishes no front-proxy CA: bearer tokens only")
        return options
    ca, names = found
    folder = Path(tempfile.mkdtemp(prefix="podscale-adapter-front-proxy-"))
    (folder / "ca.crt").write_text(ca)
    log.info("adapter: front-proxy CA from %s", AUTHENTICATION_CONFIG)
    return options.model_copy(
        update={
            "requestheader_client_ca_file": str(folder / "ca.crt"),
            "requestheader_allowed_names": options.requestheader_allowed_names or names,
        }
    )


@functools.cache
def _cluster_api(kubeconfig: str | None) -> Any:
    """The one API connection the adapter makes (front-proxy CA, then the reviews)."""
    from autoscaler.kube.api import Api, connect

    return Api(connect(kubeconfig))


def _check_tls(options: AdapterOptions) -> None:
    if bool(options.tls_cert) != bool(options.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if options.tls_cert and options.self_signed:
        raise UsageError("use either --tls-cert/--tls-key or --self-signed")
    ca = options.requestheader_client_ca_file
    if ca and not Path(ca).is_file():
        raise UsageError(f"--requestheader-client-ca-file {ca}: no such file")
    if not (options.tls_cert or options.self_signed or options.insecure_dev):
        raise UsageError("needs --tls-cert/--tls-key or --self-signed (or --insecure-dev)")


def _tls_files(options: AdapterOptions) -> Any:
    from autoscaler.adapter import tls

    ca = options.requestheader_client_ca_file
    if options.tls_cert and options.tls_key:
        return tls.TLSFiles(cert=options.tls_cert, key=options.tls_key, client_ca=ca)
    if options.self_signed:
        names = ["localhost", "127.0.0.1", *options.tls_san]
        directory = Path(tempfile.mkdtemp(prefix="podscale-adapter-tls-"))
        try:
            made = tls.self_signed(directory, names)
        except tls.TLSError as exc:
            raise UsageError(str(exc)) from None
        log.info("adapter: self-signed certificate in %s (CA bundle: tls.crt)", directory)
        return tls.TLSFiles(cert=made.cert, key=made.key, client_ca=ca)
    return None


def main() -> None:  # pragma: no cover - python -m autoscaler.adapter.command
    parser = argparse.ArgumentParser(prog="autoscaler adapter")
    add_arguments(parser)
    sys.exit(run(parser.parse_args(), sys.stdout, sys.stderr))
