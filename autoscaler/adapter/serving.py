"""How the adapter serves connections: uvicorn behind :mod:`autoscaler.adapter.guard`.

:class:`ServingLimits` is the one definition of the connection limits: each field is
an environment variable (``AUTOSCALER_ADAPTER_MAX_CONNECTIONS=256``) and a flag of
``autoscaler adapter`` (``--max-connections 256``); the flag wins. The defaults keep
the shipped Deployment (512 Mi) far from its limit: a connection costs ~0.3 MB from its
accept on (asyncio's TLS buffers), so 256 connections hold ~80 MB on top of ~75 MB at
rest, and a flood that keeps replacing them peaks near 230 MB (figures:
``loadtest/bench_adapter_flood.py``). The aggregator needs few connections: the HPA
controller syncs 5 HPAs at a time by default.
"""

from __future__ import annotations

import ssl
from typing import Annotated, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from autoscaler.adapter.guard import ConnectionGuard, Limits, guarded_protocol
from autoscaler.flags import Flag


class ServingLimits(BaseSettings):
    """Connection limits of ``autoscaler adapter``; see ``docs/adapter.md``, "Limits"."""

    model_config = SettingsConfigDict(env_prefix="AUTOSCALER_ADAPTER_", extra="ignore")

    max_connections: Annotated[int, Flag(metavar="N")] = Field(
        default=256, ge=1, le=100_000, description="open connections; more are closed at once"
    )
    handshake_timeout: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=10.0, gt=0, le=300, description="seconds from accept to a completed TLS handshake"
    )
    header_timeout: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=10.0,
        gt=0,
        le=300,
        description="seconds for a request line and headers (after the handshake or a response)",
    )
    keep_alive_timeout: Annotated[int, Flag(metavar="SECONDS")] = Field(
        default=5, ge=1, le=300, description="seconds an idle connection stays open"
    )
    max_head_bytes: Annotated[int, Flag(metavar="BYTES")] = Field(
        default=16 * 1024,
        ge=4096,
        le=1024 * 1024,
        description="bytes of request line and headers; more is a 413 Status",
    )

    def guard_limits(self) -> Limits:
        return Limits(
            max_connections=self.max_connections,
            handshake_timeout=self.handshake_timeout,
            header_timeout=self.header_timeout,
            max_head_bytes=self.max_head_bytes,
        )


def make_server(
    app: Any,
    *,
    host: str,
    port: int,
    context: ssl.SSLContext | None,
    limits: ServingLimits,
    log_level: str = "warning",
) -> Any:
    """A ``uvicorn.Server`` for ``app`` whose connections pass the guard (TLS if ``context``).

    uvicorn itself listens in plain TCP: the guard does the TLS upgrade, after its
    admission check. WebSocket upgrades are off (the API has none).
    """
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    guard = ConnectionGuard(limits.guard_limits(), context)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(H11Protocol, guard),
        ws="none",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_keep_alive=limits.keep_alive_timeout,
        timeout_graceful_shutdown=5,
        h11_max_incomplete_event_size=limits.max_head_bytes,
    )

    class GuardedServer(uvicorn.Server):
        """uvicorn's server, with the guard's open, evicted and refused counts at hand."""

        guard: ConnectionGuard

    server = GuardedServer(config)
    server.guard = guard
    return server
