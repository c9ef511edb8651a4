"""Fixtures for the adapter tests; helpers they share live in adapter_support.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from adapter_support import write_declarations
from prometheus_fixture import PromEnv, running_env


@pytest.fixture(scope="module")
def prom_env() -> Iterator[PromEnv]:
    with running_env() as env:
        yield env


@pytest.fixture
def ns() -> str:
    return "ns-" + uuid.uuid4().hex[:10]


@pytest.fixture
def declarations(tmp_path: Path) -> Path:
    return write_declarations(tmp_path)
