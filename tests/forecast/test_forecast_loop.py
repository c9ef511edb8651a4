"""The forecaster through the real Controller and core: forecasts lead a ramp, a
forecast that goes bad switches itself off (and back on), the history survives a
restart through the state file, refits are bounded, and gone targets are forgotten."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from autoscaler.core.model import (
    AVERAGE_VALUE,
    EXTERNAL,
    FORECAST,
    Container,
    Decision,
    MetricData,
    MetricSpec,
    MetricTarget,
    Pod,
    Policy,
    Predictive,
    Settings,
)
from autoscaler.core.paths import TRUSTED_REASON, UNTRUSTED_REASON
from autoscaler.forecast.forecaster import SeasonalForecaster
from autoscaler.loop.controller import Controller, Outcome
from autoscaler.loop.forecasting import Refitter, StateFile
from autoscaler.ports import LoopError, ScaleState, Target, TargetRef

T0 = 1_700_000_100.0
SYNC = 15.0
LOAD = MetricSpec(EXTERNAL, "load", MetricTarget(AVERAGE_VALUE, average_value=100_000))


@dataclass
class Cluster:
    """Scales, ready pods and one External metric per workload (its total, in units)."""

    replicas: dict[str, int] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)

    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        n = self.replicas[ref.name]
        return ScaleState(n, n, f"app={ref.name}")

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        return self.get_scale(namespace, ref)

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        self.replicas[ref.name] = replicas

    def pods(self, namespace: str, selector: str) -> tuple[Pod, ...]:
        name = selector.removeprefix("app=")
        return tuple(
            Pod(f"{name}-{i}", "Running", "True", T0 - 3600, T0 - 3600, False, (Container("app"),))
            for i in range(self.replicas[name])
        )

    def read_all(self, targets: Sequence[Target], *, now: float) -> Mapping[str, MetricData]:
        return {
            t.key: MetricData(external={"load": (round(self.load[t.name] * 1000),)})
            for t in targets
        }


def predictive_target(name: str = "web", *, max_error: float = 0.3) -> Target:
    policy = Policy(
        max_replicas=100,
        metrics=(LOAD,),
        predictive=Predictive(lead_seconds=60, max_error=max_error),
    )
    return Target("default", name, TargetRef("apps/v1", "Deployment", name), policy)


@dataclass
class Run:
    cluster: Cluster
    forecaster: SeasonalForecaster
    controller: Controller
    now: float = T0

    def syncs(self, count: int, targets: Sequence[Target], load: object = None) -> list[Outcome]:
        """``count`` syncs every 15 s, refitting every 10 minutes of virtual time."""
        outcomes: list[Outcome] = []
        for i in range(count):
            if callable(load):
                for t in targets:
                    self.cluster.load[t.name] = load(i)
            if round(self.now - T0) % 600 == 0:
                self.forecaster.refit(self.now)
            outcomes += self.controller.sync(targets, now=self.now)
            self.now += SYNC
        return outcomes


def started(targets: Sequence[Target], load: float = 1000.0) -> Run:
    cluster = Cluster(replicas={t.name: 10 for t in targets}, load={t.name: load for t in targets})
    forecaster = SeasonalForecaster()
    controller = Controller(
        scales=cluster,
        pods=cluster,
        resource_metrics=None,
        custom_metrics=cluster,
        settings=Settings(),
        forecaster=forecaster,
    )
    return Run(cluster, forecaster, controller)


def decisions(outcomes: list[Outcome]) -> list[Decision]:
    return [o.decision for o in outcomes if o.decision is not None]


def test_a_forecast_leads_a_ramp() -> None:
    web = predictive_target()
    run = started([web])
    run.syncs(4 * 60, [web])  # an hour at 1000: a model, an error near zero
    ramp = decisions(run.syncs(120, [web], load=lambda i: 1000 + 20 * i))
    assert any(d.path == FORECAST for d in ramp)
    led = next(d for d in ramp if d.path == FORECAST)
    assert led.recommendation is not None and led.desired_replicas > led.recommendation
    assert not any(d.history.forecast_off for d in ramp)


def test_a_forecast_that_goes_bad_switches_itself_off_and_back_on() -> None:
    web = predictive_target()
    run = started([web])
    calm = decisions(run.syncs(4 * 60, [web]))
    assert calm[-1].history.forecast_off is False
    assert any(p.path == FORECAST and p.replicas == 10 for p in calm[-1].proposals)
    # The load jumps between 200 and 2000 every sync: no forecast can follow that.
    wild = decisions(run.syncs(4 * 60, [web], load=lambda i: 2000.0 if i % 2 else 200.0))
    off = [d for d in wild if d.notice is not None and d.notice.reason == UNTRUSTED_REASON]
    assert len(off) == 1
    assert wild[-1].history.forecast_off is True
    assert wild[-1].path != FORECAST
    # Calm again: once the wild pairs leave the 3-hour window, it is trusted again.
    back = decisions(run.syncs(4 * 4 * 60, [web], load=lambda i: 1000.0))
    on = [d for d in back if d.notice is not None and d.notice.reason == TRUSTED_REASON]
    assert len(on) == 1
    assert back[-1].history.forecast_off is False


def test_history_survives_a_restart_through_the_state_file(tmp_path: Path) -> None:
    web = predictive_target()
    run = started([web])
    run.syncs(2 * 4 * 60, [web])
    state = StateFile(tmp_path)
    state.save(run.forecaster)
    assert (tmp_path / "forecast-history.bin").stat().st_size > 0
    # A new process: nothing fitted until it has history; with the file, at once.
    fresh = SeasonalForecaster()
    fresh.forecasts(web, now=run.now)  # the target is known, as after its first sync
    assert fresh.refit(run.now) == 0 and fresh.forecasts(web, now=run.now) == ()
    assert state.load(fresh, now=run.now) == 1
    assert fresh.refit(run.now) == 1
    (forecast,) = fresh.forecasts(web, now=run.now)
    assert abs(forecast.total - 1_000_000) < 10_000 and forecast.at == run.now + 60


def test_a_state_past_its_lookback_or_unreadable_is_not_loaded(tmp_path: Path) -> None:
    web = predictive_target()
    run = started([web])
    run.syncs(4 * 60, [web])
    state = StateFile(tmp_path)
    state.save(run.forecaster)
    assert state.load(SeasonalForecaster(), now=run.now + 15 * 86_400) == 0
    (tmp_path / "forecast-history.bin").write_bytes(b"\x09garbage")
    assert state.load(SeasonalForecaster(), now=run.now) == 0  # logged, not raised


def test_refits_are_bounded_and_most_stale_first() -> None:
    targets = [predictive_target(f"w{i}") for i in range(30)]
    run = started(targets)
    for _ in range(4 * 20):  # twenty minutes of syncs, no refits yet
        run.controller.sync(targets, now=run.now)
        run.now += SYNC
    assert run.forecaster.refit(run.now, budget=12) == 12
    assert run.forecaster.refit(run.now, budget=12) == 12
    assert run.forecaster.refit(run.now, budget=12) == 6
    assert run.forecaster.refit(run.now + 60, budget=12) == 0  # all fresh
    fitted = {s.target: s.fitted_at for s in run.forecaster.status()}
    assert set(fitted.values()) == {run.now}
    assert run.forecaster.refit(run.now + 600, budget=5) == 5


def test_a_background_refitter_fits_off_the_sync_path(tmp_path: Path) -> None:
    web = predictive_target()
    run = started([web])
    run.syncs(4 * 20, [web])
    refitter = Refitter(
        run.forecaster, period=0.01, budget=1, state=StateFile(tmp_path), clock=lambda: run.now
    )
    refitter.start()
    refitter.stop.wait(0.5)
    refitter.close()
    assert refitter.passes >= 1 and refitter.fits == 1  # one target: fitted once per interval
    assert run.forecaster.forecasts(web, now=run.now)
    assert (tmp_path / "forecast-history.bin").exists()  # saved at close


def test_gone_targets_are_forgotten() -> None:
    web, api = predictive_target("web"), predictive_target("api")
    run = started([web, api])
    run.syncs(40, [web, api])
    assert {s.target for s in run.forecaster.status()} == {"default/web", "default/api"}
    run.syncs(1, [web])
    assert {s.target for s in run.forecaster.status()} == {"default/web"}


def test_a_policy_without_predictive_gets_no_forecasts() -> None:
    plain = Target(
        "default",
        "plain",
        TargetRef("apps/v1", "Deployment", "plain"),
        Policy(max_replicas=100, metrics=(LOAD,)),
    )
    run = started([plain])
    outcomes = run.syncs(4 * 20, [plain])
    assert all(o.snapshot is not None and o.snapshot.forecasts == () for o in outcomes)
    assert run.forecaster.status() == []


def test_run_keeps_the_histories_in_the_state_dir(tmp_path: Path) -> None:
    """`autoscaler run --state-dir DIR`: the forecaster it builds starts from DIR's file,
    and its refitter writes the file back at close."""
    from autoscaler.run_command import _forecaster
    from autoscaler.settings import Settings as RunSettings

    web = predictive_target()
    run = started([web])
    run.now = float(round(time.time()) - 3600)  # the file is read at the real time
    run.syncs(4 * 60, [web])
    StateFile(tmp_path).save(run.forecaster)
    forecaster, refitter = _forecaster(RunSettings(state_dir=str(tmp_path)), None, None)
    assert forecaster.history_source is None  # no Prometheus: nothing to seed from
    assert [s.target for s in forecaster.status()] == ["default/web"]
    (tmp_path / "forecast-history.bin").unlink()
    refitter.close()
    assert (tmp_path / "forecast-history.bin").stat().st_size > 0


@dataclass
class FlakySource:
    """A history source that fails (Prometheus down) until ``up``; counts its calls."""

    up: bool = False
    calls: int = 0

    def totals(
        self, target: Target, metric: int, *, start: float, end: float, step: float
    ) -> list[tuple[float, float]] | None:
        self.calls += 1
        if not self.up:
            raise LoopError("prometheus http://127.0.0.1:9: connection refused")
        return [(t, 500_000.0) for t in np.arange(start, end, step)]


def test_a_failing_history_source_is_asked_once_per_pass_and_again_later() -> None:
    targets = [predictive_target(f"w{i}") for i in range(5)]
    source = FlakySource()
    forecaster = SeasonalForecaster(history_source=source)
    for target in targets:
        forecaster.forecasts(target, now=T0)  # known, no history of their own
    assert forecaster.refit(T0) == 0 and source.calls == 1  # the pass stops asking
    assert forecaster.refit(T0 + 60) == 0 and source.calls == 2  # the others, later
    source.up = True
    assert forecaster.refit(T0 + 660) == 5  # each retried a refit interval after its ask
    (forecast,) = forecaster.forecasts(targets[0], now=T0 + 660)
    assert forecast.total == pytest.approx(500_000, rel=0.01)
