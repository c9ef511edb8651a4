"""Raw JSON calls through the official client, with errors mapped to the loop's own.

We ask for raw JSON (``_preload_content=False``) rather than the client's typed models:
it is several times faster for pod lists, and the loop only needs a few fields.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from autoscaler import __version__
from autoscaler.ports import JSON, Conflict, Forbidden, Gone, LoopError, NotFound, Unavailable

TIMEOUT = (5.0, 30.0)  # connect, read
MAX_RETRY_AFTER = 5.0  # seconds we wait for a server that asks us to come back later


def connect(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """An ApiClient the way other Kubernetes tools find one.

    --kubeconfig, then $KUBECONFIG, then the in-cluster service account, then
    ~/.kube/config. Raises LoopError with one line when none works.
    """
    path = kubeconfig or os.environ.get("KUBECONFIG")
    try:
        if path:
            loaded: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context
            )
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            loaded = client.ApiClient()
        else:
            loaded = config.new_client_from_config(context=context)  # type: ignore[no-untyped-call]
        return loaded
    # A file that is not YAML, or has the wrong shape, fails deep inside the client.
    except (
        config.ConfigException,
        yaml.YAMLError,
        OSError,
        ValueError,
        TypeError,
        AttributeError,
    ) as exc:
        where = path or (
            "~/.kube/config (no --kubeconfig or AUTOSCALER_KUBECONFIG, no $KUBECONFIG, "
            "not in a cluster)"
        )
        reason = " ".join(str(exc).split())  # a YAML error spans lines
        raise LoopError(f"cannot load Kubernetes config from {where}: {reason}") from None


class Api:
    """GET/PATCH/POST of raw JSON paths, raising NotFound/Conflict/Forbidden/Unavailable."""

    def __init__(self, api_client: client.ApiClient, *, impersonate: str | None = None) -> None:
        self.client = api_client
        if impersonate:  # like kubectl --as: check what a service account may do
            self.client.set_default_header("Impersonate-User", impersonate)  # type: ignore[no-untyped-call]
        # Names us in audit logs and managedFields ("podscale"), apart from other clients.
        self.client.user_agent = f"podscale/{__version__}"
        self.requests = 0  # API requests issued, for the loop's own metrics

    def call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        """One API call; a 429 or 503 that names a short Retry-After is retried once.

        Anything else that fails is raised at once: the loop's next sync is the retry, so
        a struggling API server sees less traffic from us, not more.
        """
        for attempt in (1, 2):
            status, reason, raw, retry_after = self._once(method, path, query, body, content_type)
            if 0 < status < 400:  # 0: no answer at all (an SSL failure), not a success
                try:
                    data: JSON = json.loads(raw or b"{}")
                except ValueError:  # e.g. a proxy's HTML page: a failed call, not a crash
                    raise LoopError(f"{method} {path}: the answer is not JSON") from None
                return data
            if attempt == 1 and status in (429, 503) and 0 < retry_after <= MAX_RETRY_AFTER:
                time.sleep(retry_after)
                continue
            break
        raise _mapped(status, reason, raw, method, path)

    def _once(
        self, method: str, path: str, query: list[tuple[str, str]] | None, body: Any, ctype: str
    ) -> tuple[int, str | None, Any, float]:
        self.requests += 1
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = ctype
        try:
            method_, url, header_params, serialized, post = self.client.param_serialize(
                method,
                path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.client.call_api(
                method_, url, header_params, serialized, post, _request_timeout=TIMEOUT
            )
            raw = response.read()  # type: ignore[no-untyped-call]
        except ApiException as exc:
            return exc.status or 0, exc.reason, exc.body, _retry_after(exc.headers)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(f"{method} {path}: Kubernetes API unreachable: {exc}") from None
        return response.status, response.reason, raw, _retry_after(response.headers)

    def stream(
        self, method: str, path: str, *, query: list[tuple[str, str]], read_timeout: float
    ) -> Any:
        """A response whose body is read as it arrives (watches); errors mapped as ``call``."""
        self.requests += 1
        try:
            method_, url, headers, body, post = self.client.param_serialize(
                method,
                path,
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response = self.client.call_api(
                method_, url, headers, body, post, _request_timeout=(TIMEOUT[0], read_timeout)
            )
        except ApiException as exc:
            raise _mapped(exc.status, exc.reason, exc.body, method, path) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(f"{method} {path}: Kubernetes API unreachable: {exc}") from None
        if response.status >= 400:
            raw = response.read()  # type: ignore[no-untyped-call]
            raise _mapped(response.status, response.reason, raw, method, path)
        return response.response


def _retry_after(headers: Any) -> float:
    try:
        return float((headers or {}).get("Retry-After") or 0)
    except (TypeError, ValueError):
        return 0.0


def _mapped(status: int | None, reason: str | None, body: Any, method: str, path: str) -> LoopError:
    # One line: an SSL failure's reason and some webhooks' denials span several.
    message = " ".join((_status_message(body) or reason or "error").split())
    where = f"{method} {path}"
    code = status or 0
    if code == 0:  # no HTTP answer at all (the client reports SSL errors this way)
        return Unavailable(f"{where}: Kubernetes API unreachable: {message}")
    if code == 404:
        return NotFound(f"{where}: not found: {message}")
    if code == 409:
        return Conflict(f"{where}: conflict: {message}")
    if code == 410:
        return Gone(f"{where}: gone: {message}")
    if code in (401, 403):
        return Forbidden(f"{where}: forbidden: {message}")
    if code == 429 or code >= 500:
        return Unavailable(f"{where}: HTTP {code}: {message}")
    return LoopError(f"{where}: HTTP {code}: {message}")


def _status_message(body: Any) -> str:
    """The ``message`` of a Kubernetes Status body, if the error carried one."""
    try:
        parsed = json.loads(body or "{}")
    except (ValueError, TypeError):
        return ""
    return str(parsed.get("message", "")) if isinstance(parsed, dict) else ""
