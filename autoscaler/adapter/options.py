"""What ``autoscaler adapter`` is started with: its flags and environment variables.

The flags are generated from these fields (:mod:`autoscaler.flags`); a flag wins over
its variable. The adapter's own settings are ``AUTOSCALER_ADAPTER_*`` variables (the
connection limits come from :class:`ServingLimits`); the ones it shares with ``autoscaler
run`` keep run's names, ``AUTOSCALER_PROMETHEUS_URL``, ``AUTOSCALER_METRICS_CONFIG`` and
``AUTOSCALER_KUBECONFIG``, so one ConfigMap can feed both Deployments.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from autoscaler.adapter.serving import ServingLimits
from autoscaler.addresses import host_port
from autoscaler.flags import Flag, one_or_json_list

_FILE = Flag(metavar="FILE")


class AdapterOptions(ServingLimits):
    """The adapter's start-up settings, connection limits included."""

    model_config = SettingsConfigDict(
        env_prefix="AUTOSCALER_ADAPTER_", extra="ignore", validate_by_name=True
    )

    metrics_config: Annotated[list[str], NoDecode, Flag(metavar="PATH")] = Field(
        validation_alias="AUTOSCALER_METRICS_CONFIG",
        description="MetricDeclarations files or folders (the External metrics are served)",
    )
    prometheus_url: Annotated[str, Flag(metavar="URL")] = Field(
        validation_alias="AUTOSCALER_PROMETHEUS_URL", description="e.g. http://prometheus:9090"
    )
    listen: Annotated[str, Flag(metavar="HOST:PORT")] = Field(
        default="127.0.0.1:6443", description="address of the HTTPS server"
    )
    tls_cert: Annotated[str | None, _FILE] = Field(
        default=None, description="serving certificate (PEM), reloaded on change"
    )
    tls_key: Annotated[str | None, _FILE] = Field(default=None, description="its private key (PEM)")
    self_signed: bool = Field(default=False, description="generate a self-signed pair at start")
    tls_san: Annotated[list[str], NoDecode, Flag(metavar="NAME")] = Field(
        default_factory=list,
        description="extra names for --self-signed (the Service's <name>.<namespace>.svc)",
    )
    requestheader_client_ca_file: Annotated[str | None, _FILE] = Field(
        default=None,
        description="front-proxy CA: client certs it signed may set X-Remote-User/-Group "
        "(default: the cluster's, from kube-system/extension-apiserver-authentication)",
    )
    requestheader_allowed_names: Annotated[list[str], NoDecode, Flag(metavar="NAME")] = Field(
        default_factory=list,
        description="common names allowed to use the request headers (default: any)",
    )
    kubeconfig: Annotated[str | None, _FILE] = Field(
        default=None,
        validation_alias="AUTOSCALER_KUBECONFIG",
        description="for TokenReview/SubjectAccessReview calls (default: in-cluster config)",
    )
    upstream: Annotated[list[str], NoDecode, Flag(metavar="URL")] = Field(
        default_factory=list,
        description="external-metrics servers answering the names not declared here",
    )
    upstream_ca_file: Annotated[str | None, _FILE] = Field(
        default=None, description="CA of the upstream's serving cert"
    )
    upstream_insecure_skip_tls_verify: bool = Field(
        default=False, description="do not verify the upstream's serving cert"
    )
    upstream_token_file: Annotated[str | None, _FILE] = Field(
        default=None, description="bearer token sent to the upstream"
    )
    upstream_client_cert: Annotated[str | None, _FILE] = Field(
        default=None, description="client certificate for the upstream (PEM)"
    )
    upstream_client_key: Annotated[str | None, _FILE] = Field(
        default=None, description="its private key (PEM)"
    )
    namespaces: Annotated[list[str], NoDecode, Flag(metavar="NS")] = Field(
        default_factory=list, description="serve only these namespaces (default: all)"
    )
    cache_ttl: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=10.0, gt=0, description="refresh period of metrics without cacheTTL"
    )
    direct: bool = Field(
        default=False,
        description="query Prometheus on every request instead of the cache (for comparison)",
    )
    insecure_dev: bool = Field(
        default=False,
        description="NO authentication or authorization; plain HTTP without TLS flags (laptops)",
    )

    @field_validator(
        "metrics_config",
        "tls_san",
        "requestheader_allowed_names",
        "upstream",
        "namespaces",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: object) -> object:
        """From a variable: a JSON list, or one value as it is."""
        return one_or_json_list(value)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host_port(value)
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        """``listen`` as the server binds it."""
        return host_port(self.listen)
