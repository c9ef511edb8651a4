"""``autoscaler run`` as a child process, and the polling the live tests and benchmarks do.

The sibling of ``testbed_fixture`` (which starts the testbed and ``sim run``), shared the
same way: ``tests/e2e`` has ``tests/`` on pytest's ``pythonpath`` and the
``loadtest/bench_*.py`` scripts put it on ``sys.path``. Both wait for the cluster the
same way (:func:`wait_for`), write the same CPU policy (:func:`cpu_policy`) and start the
service with its stderr in a log file (:class:`AutoscalerRun`), so a change to how the
service is started or stopped is made once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from testbed_fixture import REPO, TestbedError, stop_process

from autoscaler.sim.manifests import cpu_hpa_spec

EXE = str(Path(sys.executable).parent / "autoscaler")


class WaitTimedOut(TestbedError):
    """What :func:`wait_for` waited for did not come; the message says what and the last value."""


def wait_for(
    predicate: Callable[[], Any],
    what: str,
    timeout: float = 60,
    *,
    interval: float = 0.25,
    transient: tuple[type[Exception], ...] = (),
) -> Any:
    """Poll ``predicate`` until it returns something truthy and return that. An exception
    of a ``transient`` type counts as a falsy answer (a benchmark rides out a slow API
    server); any other propagates. Raises :class:`WaitTimedOut` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except transient as error:
            last = error
        else:
            if last:
                return last
        time.sleep(interval)
    raise WaitTimedOut(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def cpu_policy(
    name: str, namespace: str | None = None, *, min_replicas: int = 1, **spec: Any
) -> dict[str, Any]:
    """A ScalingPolicy for the Deployment ``name``: 1-10 replicas at 50 % CPU utilization;
    ``spec`` adds or replaces fields of its spec (``mode``, ``behavior``, ...). Without
    ``namespace`` the metadata names none (``kubectl apply -n`` gives it)."""
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    hpa_spec = cpu_hpa_spec(name, down_window=0)
    without_behavior = {key: value for key, value in hpa_spec.items() if key != "behavior"}
    return {
        "apiVersion": "podscale.dev/v1alpha1",
        "kind": "ScalingPolicy",
        "metadata": metadata,
        # The HPA spec the comparisons use, without its behavior: the defaults apply.
        "spec": {**without_behavior, "minReplicas": min_replicas, **spec},
    }


def run_once(
    kubeconfig: Path, policies: Path | None, *flags: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``autoscaler run --once --kubeconfig K [--policies P] FLAGS`` (no policies: the
    ScalingPolicy objects); its exit is the caller's to judge."""
    files = () if policies is None else ("--policies", str(policies))
    return subprocess.run(
        [EXE, "run", "--once", "--kubeconfig", str(kubeconfig), *files, *flags],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )  # fmt: skip


class AutoscalerRun:
    """``autoscaler run --kubeconfig K [--policies P] FLAGS`` with its stderr in ``log``.

    As a context manager it is stopped on the way out: with SIGTERM and then SIGKILL after
    ``grace`` seconds (:meth:`stop`), or with SIGKILL at once when ``kill_on_exit`` (a
    test that is done with a replica, whose lease nobody waits for)."""

    def __init__(
        self,
        kubeconfig: Path,
        policies: Path | None,
        log: Path,
        *flags: str,
        kill_on_exit: bool = False,
        grace: float = 20.0,
    ) -> None:
        self.log = log
        self.kill_on_exit = kill_on_exit
        self.grace = grace
        files = () if policies is None else ("--policies", str(policies))
        self._handle = log.open("w")
        self.popen: subprocess.Popen[str] = subprocess.Popen(
            [EXE, "run", "--kubeconfig", str(kubeconfig), *files, *flags],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._handle,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def stop(self) -> bool:
        """SIGTERM, then SIGKILL after ``grace`` s; True when it ended on SIGTERM."""
        try:
            return stop_process(self.popen, grace=self.grace)
        finally:
            self._handle.close()

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=self.grace)
        self._handle.close()

    def check(self) -> bool:
        """True while it runs; once it has exited, :class:`TestbedError` with its log's end
        (so that a wait for what it should do stops at once and says why)."""
        if self.popen.poll() is not None:
            raise TestbedError(
                f"autoscaler run exited with {self.popen.returncode}: {self.log.read_text()[-300:]}"
            )
        return True

    def wait_started(self, timeout: float = 60) -> dict[str, Any]:
        """Its ``started`` log line (JSON, the default log format), once it has logged it:
        a slow start on a loaded machine is then not counted against what follows."""

        def started() -> dict[str, Any] | None:
            for line in self.log.read_text().splitlines():
                if line.startswith("{") and json.loads(line).get("msg") == "started":
                    return dict(json.loads(line))
            self.check()
            return None

        found: dict[str, Any] = wait_for(started, "autoscaler run to log 'started'", timeout)
        return found

    def listen_url(self, timeout: float = 60) -> str:
        """The base URL it serves /metrics and the probes on, from its ``started`` line."""
        return f"http://{self.wait_started(timeout)['listen']}"

    def __enter__(self) -> AutoscalerRun:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.kill_on_exit:
            self.kill()
        else:
            self.stop()
