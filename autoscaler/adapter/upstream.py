"""Forwarding undeclared metric names to the cluster's existing external-metrics provider.

Only one server can own ``v1beta1.external.metrics.k8s.io``. When KEDA or
prometheus-adapter already does, Podscale can take the APIService and pass every name
it does not declare to that provider's Service, so HPAs using it keep working. The
upstream sees Podscale's own credentials (a bearer token file, or a client certificate),
so it needs RBAC to read ``external.metrics.k8s.io`` for Podscale's ServiceAccount.
Each call is bounded by ``timeout``; an unreachable upstream is a 503 Status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from starlette.requests import Request

from autoscaler.adapter import schemas

log = logging.getLogger("autoscaler.adapter")
DISCOVERY_PERIOD = 60.0


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """One upstream server and how to reach it (its own TLS trust and credentials)."""

    url: str
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    client_cert: str | None = None
    client_key: str | None = None
    token_file: str | None = None
    timeout: float = 3.0


class Upstream:
    """Forwards value requests to the first upstream that lists the name (else the first)."""

    def __init__(self, settings: list[UpstreamSettings]) -> None:
        self.settings = settings
        self._sessions: list[aiohttp.ClientSession] = []
        self._names: list[list[str]] = [[] for _ in settings]
        self._task: asyncio.Task[None] | None = None

    def resource_names(self) -> list[str]:
        """The names the upstreams listed at their last discovery (for our own list)."""
        seen: dict[str, None] = {}
        for names in self._names:
            seen.update(dict.fromkeys(names))
        return list(seen)

    def start(self) -> None:
        """Open the sessions (on the serving loop) and start discovery."""
        self._sessions = [_session(s) for s in self.settings]
        self._task = asyncio.create_task(self._discover_forever(), name="adapter-upstream")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for session in self._sessions:
            await session.close()

    async def forward(self, metric: str, request: Request) -> tuple[int, bytes]:
        """The upstream's status and JSON body for this request, or a 503 Status."""
        index = next((i for i, names in enumerate(self._names) if metric in names), 0)
        settings, session = self.settings[index], self._sessions[index]
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            code, body = await _get(session, settings, path)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return 503, schemas.status(503, f"upstream {settings.url} unavailable: {reason}")
        try:
            json.loads(body)
        except ValueError:
            message = f"upstream {settings.url} answered HTTP {code} without JSON"
            return 503, schemas.status(503, message)
        return code, body

    async def discover(self) -> None:
        """Read each upstream's resource list; an unreachable one keeps its last list."""
        for index, (settings, session) in enumerate(
            zip(self.settings, self._sessions, strict=True)
        ):
            try:
                code, body = await _get(session, settings, schemas.PREFIX)
                resources = json.loads(body).get("resources", []) if code == 200 else []
                self._names[index] = [str(r["name"]) for r in resources if "/" not in r["name"]]
            except (
                aiohttp.ClientError,
                TimeoutError,
                OSError,
                ValueError,
                KeyError,
                TypeError,
                AttributeError,
            ) as exc:
                log.warning("adapter: upstream %s discovery failed: %s", settings.url, exc)

    async def _discover_forever(self) -> None:
        while True:
            await self.discover()
            await asyncio.sleep(DISCOVERY_PERIOD)


def _session(settings: UpstreamSettings) -> aiohttp.ClientSession:
    context: ssl.SSLContext | bool = True
    if settings.url.startswith("https:"):
        context = ssl.create_default_context(cafile=settings.ca_file)
        if settings.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if settings.client_cert:
            context.load_cert_chain(settings.client_cert, settings.client_key)
    return aiohttp.ClientSession(
        base_url=settings.url.rstrip("/") + "/",
        connector=aiohttp.TCPConnector(ssl=context, limit=64),
        timeout=aiohttp.ClientTimeout(total=settings.timeout),
    )


async def _get(
    session: aiohttp.ClientSession, settings: UpstreamSettings, path: str
) -> tuple[int, bytes]:
    async with session.get(
        path.lstrip("/"), headers=_headers(settings), allow_redirects=False
    ) as answer:
        return answer.status, await answer.content.read(4 * 1024 * 1024)


def _headers(settings: UpstreamSettings) -> dict[str, str]:
    headers = {"Accept": schemas.JSON_TYPE}
    if settings.token_file:
        with contextlib.suppress(OSError):  # re-read: projected tokens rotate
            headers["Authorization"] = "Bearer " + Path(settings.token_file).read_text().strip()
    return headers
