"""A PNG of a simulation: load, replicas and metric-vs-target, one colour per policy.

Three panels on one time axis (hours since the start), read top to bottom:

1. offered load (grey area) against each policy's ready capacity (ready pods x
   capacity per pod): where the area rises above a line, that policy drops requests;
2. ready replicas (solid) and the loop's desired replicas (dotted) per policy;
3. the policy's metric as a percentage of its target, with the tolerance band.

Long runs are drawn from bins of about a thousand points (the maximum of each bin,
so spikes stay visible). matplotlib is imported here only, with the Agg backend, so
nothing else pays for it and no display is needed. It is an optional dependency (the
``simulate`` extra: ``pip install 'podscale[simulate]'``), absent from the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from autoscaler.simulate.engine import Plan, RunResult
from autoscaler.simulate.report import same_decisions
from autoscaler.simulate.setup import SetupError

_POINTS = 1200
# Twenty distinct colours (matplotlib's tab10, then its light shades), one per run in
# the table's order; only a comparison of more than twenty runs reuses one.
_COLOURS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
    "#aec7e8", "#ff9896", "#98df8a", "#c5b0d5", "#ffbb78",
    "#c49c94", "#f7b6d2", "#9edae5", "#dbdb8d", "#c7c7c7",
)  # fmt: skip


def _binned(values: Sequence[float | None], size: int) -> list[float]:
    """The maximum of every ``size`` consecutive values (missing values skipped)."""
    out = []
    for start in range(0, len(values), size):
        chunk = [v for v in values[start : start + size] if v is not None]
        out.append(max(chunk) if chunk else float("nan"))
    return out


def require_matplotlib() -> None:
    """Raise a one-line :class:`SetupError` when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SetupError(
            "--out draws chart.png with matplotlib, which is not installed: "
            "pip install 'podscale[simulate]'"
        ) from None


def write_chart(path: Path, results: Sequence[RunResult], *, plan: Plan, title: str) -> None:
    """Draw ``results`` (sharing one trace) into the PNG file ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = results[0].series
    size = max(1, len(first.t) // _POINTS)
    hours = [t / 3600 for t in first.t[::size]]
    fig, (load_ax, replica_ax, ratio_ax) = plt.subplots(
        3, 1, figsize=(14, 9), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]}
    )
    load_ax.fill_between(
        hours, _binned(first.offered, size), step="post", color="#bbbbbb", label="offered load"
    )
    twins = same_decisions(results)
    for index, result in enumerate(results):
        colour = _COLOURS[index % len(_COLOURS)]
        s, label = result.series, result.subject.label
        # A run that decided as an earlier one would hide it: dashed, and says so.
        style = "--" if label in twins else "-"
        if label in twins:
            label = f"{label} (same as {twins[label]})"
        capacity = result.subject.model.capacity_rps
        load_ax.step(
            hours,
            _binned([r * capacity for r in s.ready], size),
            where="post",
            color=colour,
            linewidth=1.2,
            linestyle=style,
            label=f"{label}: ready capacity",
        )
        replica_ax.step(
            hours,
            _binned(s.ready, size),
            where="post",
            color=colour,
            linestyle=style,
            label=f"{label}: ready",
        )
        replica_ax.step(
            hours,
            _binned(s.desired, size),
            where="post",
            color=colour,
            linestyle=":",
            linewidth=1,
            label=f"{label}: desired",
        )
        ratio_ax.plot(
            hours,
            _binned([None if r is None else 100 * r for r in s.ratio], size),
            color=colour,
            linewidth=0.8,
            linestyle=style,
            label=label,
        )
    tolerance = 100 * plan.settings.tolerance
    ratio_ax.axhspan(100 - tolerance, 100 + tolerance, color="#dddddd", label="tolerance")
    ratio_ax.axhline(100, color="black", linewidth=0.8)
    load_ax.set_ylabel("requests / s")
    load_ax.set_title("Load and ready capacity", loc="left", fontsize=10)
    replica_ax.set_ylabel("replicas")
    replica_ax.set_title("Ready (solid) and desired (dotted) replicas", loc="left", fontsize=10)
    ratio_ax.set_ylabel("% of target")
    ratio_ax.set_title("Metric as a percentage of its target", loc="left", fontsize=10)
    ratio_ax.set_xlabel("hours since start")
    ratio_ax.set_ylim(0, 250)
    for ax in (load_ax, replica_ax, ratio_ax):
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        ax.margins(x=0)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
