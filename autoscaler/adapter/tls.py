"""TLS serving: certificate files reloaded on change, client certificates, self-signed pairs.

The aggregator verifies our serving certificate against the APIService's ``caBundle``
and presents its front-proxy client certificate. The socket trusts only the
request-header CA and asks for a client certificate without requiring one (kubelet
probes and bearer-token clients send none). A certificate from another CA fails the
handshake: Python cannot verify "if given, else carry on" inside the application, so
such a client never reaches a route (a stricter outcome than Go's 401).

uvicorn does not pass the peer certificate to the application, so
:func:`protocol_class` subclasses uvicorn's HTTP protocol and puts the verified peer's
common name into each request's scope as ``extensions["tls"]["client_cert_name"]``
(the ASGI TLS extension's spirit); :mod:`autoscaler.adapter.auth` reads it there.

Rotation: :class:`CertificateReloader` checks the files' modification times every few
seconds and loads changed files into the live context; new connections get them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("autoscaler.adapter")


class TLSError(Exception):
    """Certificates that cannot be loaded or generated; one line."""


@dataclass(frozen=True, slots=True)
class TLSFiles:
    cert: str
    key: str
    client_ca: str | None = None  # the request-header (front-proxy) CA


def server_context(files: TLSFiles) -> ssl.SSLContext:
    """A TLS 1.2+ server context serving ``files``; asks for client certs if a CA is set."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(context, files)
    return context


def _load(context: ssl.SSLContext, files: TLSFiles) -> None:
    try:
        context.load_cert_chain(files.cert, files.key)
        if files.client_ca:
            context.load_verify_locations(cafile=files.client_ca)
            context.verify_mode = ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load TLS files {files.cert}, {files.key}: {exc}") from None


class CertificateReloader:
    """Reloads changed certificate files into ``context`` (a CA can be added, not removed)."""

    def __init__(self, context: ssl.SSLContext, files: TLSFiles, *, period: float = 2.0) -> None:
        self.context, self.files, self.period = context, files, period
        self._stamps = self._mtimes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-reload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.period + 1)

    def check(self) -> bool:
        """Reload if a file changed; returns whether it did (a bad new pair is logged)."""
        stamps = self._mtimes()
        if stamps == self._stamps:
            return False
        try:
            _load(self.context, self.files)
        except TLSError as exc:
            log.error("adapter: keeping the previous certificate: %s", exc)
            return False
        self._stamps = stamps
        log.info("adapter: reloaded TLS certificate %s", self.files.cert)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.check()

    def _mtimes(self) -> tuple[float, ...]:
        paths = [self.files.cert, self.files.key, self.files.client_ca]
        return tuple(_mtime(p) for p in paths if p)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -1.0


def self_signed(directory: Path, names: Iterable[str], *, days: int = 365) -> TLSFiles:
    """A new EC P-256 key and self-signed certificate for ``names`` (DNS names or IPs)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "tls.crt", directory / "tls.key"
    alt = ",".join(("IP:" if _is_ip(n) else "DNS:") + n for n in names)
    command = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        str(days),
        "-subj",
        "/CN=podscale-adapter",
        "-addext",
        f"subjectAltName={alt}",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TLSError(f"cannot run openssl to make a self-signed certificate: {exc}") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise TLSError(f"openssl could not make a self-signed certificate: {reason}")
    os.chmod(key, 0o600)
    return TLSFiles(cert=str(cert), key=str(key))


def _is_ip(name: str) -> bool:
    return name.replace(".", "").isdigit() or ":" in name


def peer_common_name(transport: asyncio.BaseTransport) -> str | None:
    """The CN of the client certificate verified in this connection's handshake, if any."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    peer = ssl_object.getpeercert()
    if not peer:
        return None
    for rdn in peer.get("subject", ()):
        for attribute, value in rdn:
            if attribute == "commonName":
                return str(value)
    return ""


def protocol_class(base: type[Any]) -> type[asyncio.Protocol]:
    """``base`` (a uvicorn HTTP protocol) that exposes the verified peer CN to the app."""

    class PeerCertificateProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            name = peer_common_name(transport)
            if name is None:
                return
            inner: Any = getattr(self, "app")  # noqa: B009 (the base class is untyped here)
            tls = {"tls": {"client_cert_name": name}}

            async def app(scope: Any, receive: Any, send: Any) -> None:
                scope["extensions"] = {**scope.get("extensions", {}), **tls}
                await inner(scope, receive, send)

            self.app = app

    return PeerCertificateProtocol
