"""Run every ``loadtest/bench_*.py`` and write ``loadtest/RESULTS.md`` (``make loadtest``).

Each benchmark runs as its own process (this Python, the repository as working
folder), in its own process group, bounded by ``--timeout`` seconds: past that the
whole group is stopped, so a benchmark's own Prometheus or testbed goes with it.
What a benchmark prints on stdout are its figures, copied as they are; a benchmark
that exits non-zero or runs out of time is reported as failed with its last line of
stderr. RESULTS.md also records the machine (CPUs, model, memory, load), Python, the
date and each command. Exit status 1 when any benchmark failed, 0 otherwise.

Run: ``.venv/bin/python loadtest/run_all.py [--only decide simulate] [--timeout 900]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from procstat import cpu_model, memory_gib  # loadtest/ is on the path: run as a script

HERE = Path(__file__).resolve().parent
DEFAULT_TIMEOUT = 900.0
# Benchmarks known to need longer than the default on 2 cores (measured, with headroom):
# bench_outcome replays 70 simulated days (1,100 s on a shared machine).
LONGER: dict[str, float] = {"bench_outcome.py": 2400.0}
STOP_GRACE = 10.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """One benchmark's run: its command, figures (stdout) and, when failed, why."""

    name: str
    command: str
    seconds: float
    figures: tuple[str, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def discover(folder: Path) -> list[Path]:
    return sorted(folder.glob("bench_*.py"))


def chosen(benchmarks: list[Path], only: Sequence[str] | None) -> list[Path]:
    """The benchmarks named in ``only`` (``decide``, ``bench_decide`` or ``bench_decide.py``)."""
    if not only:
        return benchmarks
    by_name = {b.stem.removeprefix("bench_"): b for b in benchmarks}
    picked = []
    for name in only:
        key = name.removesuffix(".py").removeprefix("bench_")
        if key not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise SystemExit(f"run_all: no benchmark {name!r} (found: {known})")
        picked.append(by_name[key])
    return picked


def run_one(path: Path, *, cwd: Path, timeout: float) -> Outcome:
    command = [sys.executable, str(path)]
    shown = " ".join(_shown(Path(part), cwd) for part in command)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        error = None if process.returncode == 0 else _error_line(stderr, process.returncode)
    except subprocess.TimeoutExpired:
        stdout, stderr = _stop(process)
        error = f"timed out after {timeout:g} s"
    seconds = time.monotonic() - started
    figures = tuple(line.rstrip() for line in stdout.strip("\n").splitlines())
    return Outcome(path.name, shown, seconds, figures, error)


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop the benchmark's process group (TERM, then KILL); what it had printed."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            return process.communicate(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            continue
    return "", ""


def _error_line(stderr: str, code: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return f"exit {code}: {lines[-1]}" if lines else f"exit {code}"


def _shown(part: Path, cwd: Path) -> str:
    """``part`` relative to ``cwd`` when inside it (``.venv/bin/python``), else as is."""
    try:
        return str(part.relative_to(cwd))
    except ValueError:
        return str(part)


def machine() -> list[tuple[str, str]]:
    """What the figures depend on, as (what, value) rows."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    memory = memory_gib()
    return [
        ("CPUs (nproc)", str(cpus)),
        ("CPU model", cpu_model()),
        ("memory", "?" if memory is None else f"{memory:.1f} GiB"),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("system", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("load average at start", f"{load} (1, 5, 15 min; other work shares the machine)"),
    ]


def render(
    outcomes: Sequence[Outcome],
    *,
    skipped: Sequence[str],
    rows: Sequence[tuple[str, str]],
    when: datetime.datetime,
    invocation: str = "loadtest/run_all.py",
) -> str:
    lines = [
        "# Load test results",
        "",
        f"Written by `make loadtest` (`{invocation}`) on "
        f"{when.strftime('%Y-%m-%d %H:%M')} UTC. Each benchmark's figures are what it "
        "printed; see `loadtest/README.md` for how to read them.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {what} | {value} |" for what, value in rows),
        "",
        "## Summary",
        "",
        "| benchmark | result | seconds |",
        "| --- | --- | --- |",
    ]
    for o in outcomes:
        result = "ok" if o.ok else f"**failed**: {o.error}"
        lines.append(f"| {o.name} | {result.replace('|', '/')} | {o.seconds:.1f} |")
    lines += [f"| {name} | not run (not chosen with --only) | |" for name in skipped]
    for o in outcomes:
        status = "ok" if o.ok else f"failed: {o.error}"
        lines += ["", f"## {o.name}", "", f"`{o.command}`: {status}, {o.seconds:.1f} s.", ""]
        lines += ["```text", *(o.figures or ("(printed nothing)",)), "```"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="e.g. decide simulate")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    parser.add_argument("--dir", type=Path, default=HERE, help="where the bench_*.py are")
    parser.add_argument("--out", type=Path, help="(default: DIR/RESULTS.md)")
    args = parser.parse_args(argv)
    folder = args.dir.resolve()
    found = discover(folder)
    if not found:
        print(f"run_all: no bench_*.py in {folder}", file=sys.stderr)
        return 2
    picked = chosen(found, args.only)
    rows = machine()
    when = datetime.datetime.now(datetime.UTC)
    outcomes = []
    for path in picked:
        print(f"{path.name} ...", flush=True)
        limit = max(args.timeout, LONGER.get(path.name, 0.0))
        outcome = run_one(path, cwd=folder.parent, timeout=limit)
        for line in outcome.figures:
            print(f"  {line}")
        print(
            f"  {'ok' if outcome.ok else 'FAILED: ' + str(outcome.error)}, {outcome.seconds:.1f} s",
            flush=True,
        )
        outcomes.append(outcome)
    skipped = [p.name for p in found if p not in picked]
    out = args.out or folder / "RESULTS.md"
    invocation = " ".join(["loadtest/run_all.py", *(argv if argv is not None else sys.argv[1:])])
    text = render(outcomes, skipped=skipped, rows=rows, when=when, invocation=invocation)
    out.write_text(text, encoding="utf-8")
    failed = [o.name for o in outcomes if not o.ok]
    print(f"wrote {out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
