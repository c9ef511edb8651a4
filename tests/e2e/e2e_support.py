"""Types the end-to-end tests share: the running testbed and the kubectl helper.

They live here rather than in conftest.py so that tests can import them by a name no
other conftest shares. ``Testbed`` itself comes from ``testbed_fixture``, which the
benchmarks in loadtest/ use too.
"""

from __future__ import annotations

import subprocess
from typing import Protocol

from testbed_fixture import Testbed

__all__ = ["Kubectl", "Testbed"]


class Kubectl(Protocol):
    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...
