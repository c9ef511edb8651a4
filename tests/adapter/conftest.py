"""Fixtures for the adapter tests; helpers they share live in adapter_support.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from adapter_support import write_declarations
from prometheus_fixture import PromEnv, running_exporter, running_prometheus


@pytest.fixture(scope="module")
def prom_env() -> Iterator[PromEnv]:
    with running_exporter() as exporter, running_prometheus([exporter.target]) as server:
        exporter.set("podscale_fixture_up", {}, 1)
        server.wait_for("podscale_fixture_up", timeout=20)
        yield PromEnv(exporter=exporter, server=server)


@pytest.fixture
def ns() -> str:
    return "ns-" + uuid.uuid4().hex[:10]


@pytest.fixture
def declarations(tmp_path: Path) -> Path:
    return write_declarations(tmp_path)
