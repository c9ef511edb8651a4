"""Configuration of ``autoscaler run``: environment variables ``AUTOSCALER_*`` and flags.

Every field is an environment variable (``AUTOSCALER_SYNC_PERIOD=10``) and a flag
(``--sync-period 10``); flags win. Defaults are kube-controller-manager's for the HPA
knobs, so a policy behaves as it would under the native HPA unless told otherwise.
The settings are validated when the service starts, so a bad value stops it at once
with a message naming the setting, instead of failing at the first sync.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from autoscaler.core.model import Settings as DecisionSettings

_DNS_LABEL: Final = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_NAMESPACE_RE: Final = re.compile(_DNS_LABEL)
_NAME_RE: Final = re.compile(rf"(?=.{{1,253}}$){_DNS_LABEL}(?:\.{_DNS_LABEL})*")


class Settings(BaseSettings):
    """What ``autoscaler run`` needs; see ``autoscaler run --help``."""

    # "inf" and "nan" parse as floats: an infinite lease crashed every election attempt,
    # an infinite initialization period kept every pod "starting" forever.
    model_config = SettingsConfigDict(env_prefix="AUTOSCALER_", extra="ignore", allow_inf_nan=False)

    kubeconfig: str | None = Field(
        default=None,
        description="kubeconfig file (default: $KUBECONFIG, then in-cluster config, "
        "then ~/.kube/config)",
    )
    context: str | None = Field(default=None, description="kubeconfig context to use")
    impersonate: str | None = Field(default=None, description="act as this user (kubectl --as)")
    policies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="policy files or folders (a mounted ConfigMap)"
    )
    metrics_config: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="MetricDeclarations files or folders"
    )
    namespace: str | None = Field(default=None, description="only policies in this namespace")
    policy_crds: bool = Field(default=True, description="also read ScalingPolicy objects")
    watch_cache: bool = Field(default=True, description="pods and workloads from watches")
    sync_period: float = Field(default=15.0, gt=0, le=3600, description="seconds between syncs")
    tolerance: float = Field(default=0.1, ge=0, lt=1)
    cpu_initialization_period: float = Field(default=300.0, ge=0)
    initial_readiness_delay: float = Field(default=30.0, ge=0)
    downscale_stabilization: float = Field(default=300.0, ge=0, le=3600)
    resource_metrics: Literal["metrics-server", "prometheus"] = "metrics-server"
    prometheus_url: str | None = None
    prometheus_timeout: float = Field(default=5.0, gt=0, le=120)
    dry_run: bool = Field(default=False, description="compute and report, never patch")
    record: str | None = Field(
        default=None,
        description="append every snapshot and its decision to this file (JSON lines) "
        "for `autoscaler decide` to replay; for troubleshooting, it grows with every sync",
    )
    leader_elect: bool = Field(default=False, description="elect one writer among replicas")
    leader_elect_namespace: str = "default"
    leader_elect_name: str = "podscale"
    leader_elect_identity: str | None = None
    lease_duration: float = Field(default=15.0, gt=0)
    renew_deadline: float = Field(default=10.0, gt=0)
    retry_period: float = Field(default=2.0, gt=0)
    listen: str = Field(default="127.0.0.1:8080", description="host:port for /metrics, /healthz")
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("policies", "metrics_config", mode="before")
    @classmethod
    def _paths(cls, value: object) -> object:
        """From a variable: a JSON list of paths, or one path as it is."""
        if not isinstance(value, str):
            return value
        if not value.lstrip().startswith("["):
            return [value] if value else []
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"not a JSON list of paths: {exc.msg} at character {exc.pos}"
            ) from None

    # A typo here would otherwise show up only as failed requests at every sync.
    @field_validator("namespace", "leader_elect_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not _NAMESPACE_RE.fullmatch(value):
            raise ValueError(f"not a namespace name (a lowercase RFC 1123 label): {value!r}")
        return value

    @field_validator("leader_elect_name")
    @classmethod
    def _lease_name(cls, value: str) -> str:
        if not _NAME_RE.fullmatch(value):
            raise ValueError(f"not an object name (a lowercase RFC 1123 subdomain): {value!r}")
        return value

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises for a port that is not a number in range
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host (got {value!r})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.resource_metrics == "prometheus" and not self.prometheus_url:
            raise ValueError("resource_metrics=prometheus needs prometheus_url")
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("leader election needs retry_period < renew_deadline < lease_duration")
        return self

    def decision_settings(self) -> DecisionSettings:
        """The controller-wide knobs the decision core reads from each snapshot."""
        return DecisionSettings(
            tolerance=self.tolerance,
            cpu_initialization_period=self.cpu_initialization_period,
            initial_readiness_delay=self.initial_readiness_delay,
            downscale_stabilization_window=self.downscale_stabilization,
        )
