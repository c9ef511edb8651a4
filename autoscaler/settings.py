"""Configuration of ``autoscaler run``: environment variables ``AUTOSCALER_*`` and flags.

Every field is an environment variable (``AUTOSCALER_SYNC_PERIOD=10``) and a flag
(``--sync-period 10``), both generated from the field by :mod:`autoscaler.flags`; flags
win. Defaults are kube-controller-manager's for the HPA knobs, so a policy behaves as it
would under the native HPA unless told otherwise.
The settings are validated when the service starts, so a bad value stops it at once
with a message naming the setting, instead of failing at the first sync.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from autoscaler.addresses import host_port
from autoscaler.core.model import Settings as DecisionSettings
from autoscaler.flags import Flag, one_or_json_list

_DNS_LABEL: Final = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_NAMESPACE_RE: Final = re.compile(_DNS_LABEL)
_NAME_RE: Final = re.compile(rf"(?=.{{1,253}}$){_DNS_LABEL}(?:\.{_DNS_LABEL})*")


class Settings(BaseSettings):
    """What ``autoscaler run`` needs; its flags are generated from these fields."""

    # "inf" and "nan" parse as floats: an infinite lease crashed every election attempt,
    # an infinite initialization period kept every pod "starting" forever.
    model_config = SettingsConfigDict(env_prefix="AUTOSCALER_", extra="ignore", allow_inf_nan=False)

    kubeconfig: Annotated[str | None, Flag(metavar="FILE")] = Field(
        default=None,
        description="kubeconfig file (default: $KUBECONFIG, then in-cluster config, "
        "then ~/.kube/config)",
    )
    context: Annotated[str | None, Flag(metavar="NAME")] = Field(
        default=None, description="kubeconfig context to use"
    )
    impersonate: Annotated[str | None, Flag(name="--as", metavar="USER")] = Field(
        default=None,
        description="act as USER (kubectl --as), e.g. "
        "system:serviceaccount:podscale-system:podscale, to check its RBAC",
    )
    policies: Annotated[list[str], NoDecode, Flag(metavar="PATH")] = Field(
        default_factory=list,
        description="policy files or folders (a mounted ConfigMap); "
        "a variable holds one path or a JSON list",
    )
    metrics_config: Annotated[list[str], NoDecode, Flag(metavar="PATH")] = Field(
        default_factory=list, description="MetricDeclarations files or folders"
    )
    namespace: Annotated[str | None, Flag(metavar="NS")] = Field(
        default=None, description="only policies in this namespace"
    )
    policy_crds: Annotated[bool, Flag(name="--crds")] = Field(
        default=True, description="also read ScalingPolicy objects"
    )
    watch_cache: bool = Field(
        default=True, description="serve pods and workloads from watch caches"
    )
    sync_period: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=15.0, gt=0, le=3600, description="seconds between syncs"
    )
    tolerance: Annotated[float, Flag(metavar="RATIO")] = Field(
        default=0.1, ge=0, lt=1, description="HPA tolerance: no change within it"
    )
    cpu_initialization_period: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=300.0, ge=0, description="CPU samples of a pod this young count only if ready"
    )
    initial_readiness_delay: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=30.0, ge=0, description="a pod this young that is not ready yet is starting"
    )
    downscale_stabilization: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=300.0,
        ge=0,
        le=3600,
        description="scale down to the highest recommendation of this window",
    )
    resource_metrics: Literal["metrics-server", "prometheus"] = Field(
        default="metrics-server", description="where CPU and memory come from"
    )
    prometheus_url: Annotated[str | None, Flag(metavar="URL")] = Field(
        default=None, description="Prometheus for declared metrics"
    )
    prometheus_timeout: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=5.0, gt=0, le=120, description="seconds per Prometheus query"
    )
    dry_run: bool = Field(default=False, description="compute and report, never patch")
    record: Annotated[str | None, Flag(metavar="FILE")] = Field(
        default=None,
        description="append each snapshot and its decision to FILE (JSON lines; replay "
        "with `autoscaler decide`); it grows with every sync: for troubleshooting",
    )
    state_dir: Annotated[str | None, Flag(metavar="DIR")] = Field(
        default=None,
        description="keep the forecast histories of predictive policies in DIR "
        "(forecast-history.bin, written every 5 minutes and at shutdown), so a restart "
        "does not forget them; metrics read from Prometheus are read back from it anyway",
    )
    leader_elect: bool = Field(
        default=False,
        description="elect one writer among replicas with a coordination.k8s.io Lease",
    )
    leader_elect_namespace: Annotated[str, Flag(metavar="NS")] = Field(
        default="default", description="namespace of the Lease"
    )
    leader_elect_name: Annotated[str, Flag(metavar="NAME")] = Field(
        default="podscale", description="name of the Lease"
    )
    leader_elect_identity: Annotated[str | None, Flag(metavar="ID")] = Field(
        default=None, description="this replica's identity (default: hostname-pid-random)"
    )
    lease_duration: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=15.0, gt=0, description="how long a Lease holds without renewal"
    )
    renew_deadline: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=10.0, gt=0, description="the leader gives up when it cannot renew within it"
    )
    retry_period: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=2.0, gt=0, description="between attempts to take or renew the Lease"
    )
    listen: Annotated[str, Flag(metavar="HOST:PORT")] = Field(
        default="127.0.0.1:8080", description="address for /metrics, /healthz, /readyz"
    )
    log_format: Literal["json", "text"] = Field(default="json", description="log lines as")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="least severe level logged"
    )

    @field_validator("policies", "metrics_config", mode="before")
    @classmethod
    def _paths(cls, value: object) -> object:
        """From a variable: a JSON list of paths, or one path as it is."""
        return one_or_json_list(value)

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

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host_port(value)  # the server binds much later: a typo stops the start here
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.resource_metrics == "prometheus" and not self.prometheus_url:
            raise ValueError(
                "--resource-metrics prometheus needs --prometheus-url (AUTOSCALER_PROMETHEUS_URL)"
            )
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs --retry-period < --renew-deadline < --lease-duration "
                f"(got {self.retry_period:g}, {self.renew_deadline:g}, {self.lease_duration:g})"
            )
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        """``listen`` as the server binds it."""
        return host_port(self.listen)

    def decision_settings(self) -> DecisionSettings:
        """The controller-wide knobs the decision core reads from each snapshot."""
        return DecisionSettings(
            tolerance=self.tolerance,
            cpu_initialization_period=self.cpu_initialization_period,
            initial_readiness_delay=self.initial_readiness_delay,
            downscale_stabilization_window=self.downscale_stabilization,
        )
