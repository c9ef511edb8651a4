"""One real Prometheus (Debian's binary) and one exporter for the whole test session.

Prometheus takes ~5 s to scrape a new target for the first time, so tests share one
instance and keep apart by using their own namespace label. Tests that stop Prometheus
start their own (see ``test_prom_outages.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from prometheus_fixture import PromEnv, running_env

from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource


@pytest.fixture(scope="session")
def prom_env() -> Iterator[PromEnv]:
    with running_env() as env:
        yield env


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses, so series never collide across tests."""
    return "ns-" + uuid.uuid4().hex[:10]


@pytest.fixture
def source(prom_env: PromEnv) -> Iterator[PrometheusSource]:
    settings = PrometheusSettings(url=prom_env.server.url, timeout=5.0)
    prom_source = PrometheusSource(settings=settings)
    yield prom_source
    prom_source.close()
