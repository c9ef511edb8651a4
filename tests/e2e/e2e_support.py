"""Types the end-to-end tests share: the running testbed and the kubectl helper.

They live here rather than in conftest.py so that tests can import them by a name no
other conftest shares.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Testbed:
    __test__ = False  # a fixture value, not a test class
    dir: Path
    kubeconfig: Path
    user_kubeconfig: Path
    env: dict[str, str]

    @property
    def server(self) -> str:
        return self.env["TESTBED_SERVER"]


class Kubectl(Protocol):
    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...
