"""The testbed and ``autoscaler sim run`` as child processes, for tests and benchmarks.

Shared by ``tests/e2e`` (on pytest's ``pythonpath``) and the ``loadtest/bench_*.py``
scripts (which put ``tests/`` on ``sys.path``, as they do for ``prometheus_fixture``), so
that both start, wait for and stop these processes the same way:

- :func:`running_testbed` runs ``scripts/testbed up DIR`` and always ``down DIR`` on the
  way out, also after a failed or interrupted ``up``, which may have started some of the
  processes; :class:`Testbed` reads what ``up`` wrote (``DIR/env``, ``DIR/pids``);
- :func:`restart_controller_manager` swaps the testbed's kube-controller-manager for one
  with a higher client rate limit, :func:`stop_controller_manager` only stops it;
- :func:`start_sim` returns once ``autoscaler sim run`` has printed its ``started``
  line, which carries the admin and metrics URLs;
- :func:`switch_metrics_api`: on 1.37, metrics.k8s.io from the real metrics-server
  (what ``up`` leaves) or from the PodMetrics stand-in that tests write directly;
- :func:`stop_process`: SIGTERM, then SIGKILL, so that nothing outlives its caller.

Failures are :class:`TestbedError` with a one-line message; each caller words or
reports them for its own reader (a pytest failure, a benchmark's last stderr line).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TESTBED = REPO / "scripts" / "testbed"
# `up` may have to build first on a fresh machine (5-9 min on 2 cores).
UP_TIMEOUT_S = 40 * 60
DOWN_TIMEOUT_S = 120.0
KILL_WAIT_S = 10.0  # after SIGKILL: only the kernel is left to wait for
CONTROLLER_MANAGER = "kube-controller-manager"

# scripts/testbed's default: the current release (TESTBED_VERSION=1.20 is the oldest checked).
DEFAULT_VERSION = "1.37"


class TestbedError(RuntimeError):
    """The testbed or a process on it failed; the message is one line for the user."""

    __test__ = False  # an exception, not a test class


class TestbedUpFailed(TestbedError):
    """``scripts/testbed up`` failed; ``result`` keeps its output (None: it timed out)."""

    def __init__(self, result: subprocess.CompletedProcess[str] | None, timeout: float) -> None:
        if result is None:
            message = f"scripts/testbed up: no answer in {timeout:.0f} s"
        else:
            tail = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
            message = f"scripts/testbed up failed: {tail[0]}"
        super().__init__(message)
        self.result = result


class SimSilent(TestbedError):
    """``autoscaler sim run`` printed nothing in time (it has been killed)."""


def hpa_api_of(version: str) -> str:
    """The HPA API version with conditions and metrics a testbed ``version`` serves:
    ``autoscaling/v2`` (GA in 1.23), else v1.20's ``autoscaling/v2beta2`` (removed in
    1.26)."""
    return "autoscaling/v2beta2" if version == "1.20" else "autoscaling/v2"


@dataclass(frozen=True)
class Testbed:
    """A running testbed, as ``up`` described it in ``DIR/env``."""

    __test__ = False  # a fixture value, not a test class
    dir: Path
    kubeconfig: Path
    user_kubeconfig: Path
    env: dict[str, str]

    @classmethod
    def read(cls, directory: Path) -> Testbed:
        env = {}
        for line in (directory / "env").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = value
        return cls(
            dir=directory,
            kubeconfig=Path(env["TESTBED_KUBECONFIG"]),
            user_kubeconfig=Path(env["TESTBED_USER_KUBECONFIG"]),
            env=env,
        )

    @property
    def kubectl(self) -> str:
        """The kubectl built with this control plane (same release, inside the version
        skew kubectl supports); a testbed started by an older script used the PATH's."""
        return self.env.get("TESTBED_KUBECTL") or "kubectl"

    @property
    def hpa_api(self) -> str:
        """The HPA API version with conditions and metrics this testbed serves."""
        return hpa_api_of(self.version)

    @property
    def version(self) -> str:
        """The Kubernetes minor release running (``TESTBED_VERSION``: "1.20" or "1.37")."""
        return self.env.get("TESTBED_VERSION", DEFAULT_VERSION)

    @property
    def server(self) -> str:
        return self.env["TESTBED_SERVER"]

    @cached_property
    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.env["TESTBED_CA_FILE"])

    def get(self, path: str, *, timeout: float = 60.0) -> bytes:
        """GET ``path`` as the admin: for the API server's own ``/metrics`` and raw reads."""
        request = urllib.request.Request(
            self.server + path,
            headers={"Authorization": f"Bearer {self.env['TESTBED_ADMIN_TOKEN']}"},
        )
        with urllib.request.urlopen(request, timeout=timeout, context=self._tls) as response:
            data: bytes = response.read()
        return data

    def pids(self) -> dict[str, int]:
        """The processes ``up`` started, by name (``DIR/pids``), running or not."""
        return {name: pid for name, pid, _ in self._recorded()}

    def running_pid(self, name: str) -> int | None:
        """``name``'s pid if that very process still runs: its start time is the one
        ``up`` recorded, so a pid the kernel has since reused is never signalled."""
        for recorded, pid, start in self._recorded():
            if recorded != name:
                continue
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return None
            return pid if stat.rsplit(")", 1)[1].split()[19] == start else None
        return None

    def _recorded(self) -> Iterator[tuple[str, int, str]]:
        for line in (self.dir / "pids").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                yield parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""


def testbed_script(
    *args: str, timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``scripts/testbed ARGS``; a non-zero exit is the caller's to word."""
    return subprocess.run(
        [str(TESTBED), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        env=None if env is None else {**os.environ, **env},
    )


@contextmanager
def running_testbed(
    directory: Path,
    *,
    timeout: float = UP_TIMEOUT_S,
    hpa_sync: str | None = None,
    metrics_api: str | None = None,
) -> Iterator[Testbed]:
    """``scripts/testbed up DIR`` (``hpa_sync``: the HPA controller's sync period, e.g.
    ``"15s"``; ``metrics_api``: :data:`DIRECT` or :data:`METRICS_SERVER` on 1.37, where
    ``up`` defaults to metrics-server), then ``down DIR`` whatever happened. A failed
    ``down`` is one line on stderr rather than an exception, so it never hides the result
    or the first error. Raises :class:`TestbedUpFailed`."""
    env = {}
    if hpa_sync is not None:
        env["PODSCALE_TESTBED_HPA_SYNC"] = hpa_sync
    if metrics_api is not None:
        env["PODSCALE_TESTBED_METRICS_API"] = metrics_api
    try:
        try:
            up = testbed_script("up", str(directory), timeout=timeout, env=env or None)
        except subprocess.TimeoutExpired:
            raise TestbedUpFailed(None, timeout) from None
        if up.returncode != 0:
            raise TestbedUpFailed(up, timeout)
        yield Testbed.read(directory)
    finally:
        try:
            down = testbed_script("down", str(directory), timeout=DOWN_TIMEOUT_S)
            failure = down.stderr.strip() if down.returncode != 0 else ""
        except subprocess.TimeoutExpired:
            failure = f"no answer in {DOWN_TIMEOUT_S:.0f} s"
        if failure:
            print(f"scripts/testbed down failed: {failure}", file=sys.stderr)


METRICS_SERVER = "metrics-server"  # metrics.k8s.io served by metrics-server (1.37)
DIRECT = "direct"  # metrics.k8s.io served by the PodMetrics stand-in CRD that tests write


def switch_metrics_api(testbed: Testbed, mode: str, *, timeout: float = 120.0) -> None:
    """``scripts/testbed metrics-api DIR MODE``: who serves ``metrics.k8s.io`` on a 1.37
    testbed (1.20 has only the stand-in). Raises :class:`TestbedError` with its line."""
    env = {"TESTBED_VERSION": testbed.version}
    try:
        done = testbed_script("metrics-api", str(testbed.dir), mode, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise TestbedError(
            f"scripts/testbed metrics-api {mode}: no answer in {timeout:.0f} s"
        ) from None
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise TestbedError(f"scripts/testbed metrics-api {mode}: {tail[0]}")


def stop_process(process: subprocess.Popen[Any], *, grace: float = 15.0) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds. True when it ended on SIGTERM (or
    had ended already), False when it had to be killed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=KILL_WAIT_S)
        return False
    return True


def controller_manager(testbed: Testbed) -> tuple[int, list[str]]:
    """The testbed's running kube-controller-manager: its pid and command line."""
    pid = testbed.running_pid(CONTROLLER_MANAGER)
    if pid is None:
        raise TestbedError("no running kube-controller-manager in the testbed's pids file")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    return pid, [arg.decode() for arg in argv]


def stop_controller_manager(testbed: Testbed) -> list[str]:
    """Stop the testbed's kube-controller-manager (SIGKILL after 15 s) and return its
    command line. ``down`` then finds the recorded pid gone, which it accepts."""
    pid, argv = controller_manager(testbed)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)
    return argv


def restart_controller_manager(testbed: Testbed, qps: int, log: Path) -> subprocess.Popen[bytes]:
    """Replace the testbed's kube-controller-manager with the same command line plus
    ``--kube-api-qps=QPS --kube-api-burst=2*QPS``: at its client default of 20 requests/s
    the ReplicaSet controller alone needs ~10 minutes to create 10,000 pods. ``down``
    knows only the old pid: the new process is the caller's to stop (:func:`stop_process`)."""
    argv = stop_controller_manager(testbed)
    args = [*argv, f"--kube-api-qps={qps}", f"--kube-api-burst={2 * qps}"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    time.sleep(2)
    if process.poll() is not None:
        raise TestbedError(f"kube-controller-manager exited at once with {qps} qps (see {log})")
    return process


@dataclass
class Sim:
    """A running ``autoscaler sim run``: its first stdout line (the ``started`` event) and
    the lines after it, which a thread reads so that its stdout pipe never fills up."""

    process: subprocess.Popen[str]
    started: dict[str, Any]
    lines: queue.Queue[str]
    reader: threading.Thread

    @property
    def admin(self) -> str:
        return str(self.started["admin"])

    @property
    def metrics(self) -> str:
        return str(self.started["metrics"])

    def set_load(self, namespace: str, name: str, load: dict[str, Any]) -> Any:
        """Change a workload's load through the admin API; its answer (HTTPError if refused)."""
        url = f"{self.admin}/workloads/{namespace}/{name}/load"
        request = urllib.request.Request(url, data=json.dumps(load).encode(), method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self, *, grace: float = 15.0) -> bool:
        """SIGTERM (the simulator then prints its ``stopped`` event); see :func:`stop_process`."""
        return stop_process(self.process, grace=grace)

    def stopped(self) -> dict[str, Any] | None:
        """Once it has exited: its last line if that is the ``stopped`` event, else None."""
        self.reader.join(timeout=5)  # stdout is at its end: every line is in the queue
        last = ""
        while not self.lines.empty():
            last = self.lines.get_nowait() or last
        try:
            event = json.loads(last)
        except ValueError:
            return None
        return event if isinstance(event, dict) and event.get("event") == "stopped" else None


def start_sim(
    kubeconfig: Path, *args: str, stderr: Path | None = None, timeout: float = 30.0
) -> Sim:
    """``autoscaler sim run --kubeconfig KUBECONFIG ARGS``, once it has printed its first
    line. Its stderr goes to the file ``stderr``, or to a pipe the caller reads (None).
    Raises :class:`SimSilent` when nothing comes within ``timeout`` seconds."""
    command = [sys.executable, "-m", "autoscaler", "sim", "run", "--kubeconfig", str(kubeconfig)]
    with ExitStack() as files:
        err = subprocess.PIPE if stderr is None else files.enter_context(open(stderr, "w"))
        process = subprocess.Popen(
            [*command, *args],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    reader = threading.Thread(target=read, name="sim-stdout", daemon=True)
    reader.start()
    try:
        first = json.loads(lines.get(timeout=timeout))
    except queue.Empty:
        process.kill()
        process.wait(timeout=KILL_WAIT_S)
        where = f" (see {stderr})" if stderr is not None else ""
        raise SimSilent(f"the simulator printed nothing in {timeout:.0f} s{where}") from None
    return Sim(process=process, started=first, lines=lines, reader=reader)


def is_ready(pod: dict[str, Any]) -> bool:
    """The pod's Ready condition is True (what the simulator's kubelet sets)."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
