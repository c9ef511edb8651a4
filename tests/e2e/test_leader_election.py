"""Leader election on a real coordination.k8s.io/v1 Lease (kube-apiserver 1.20)."""

from __future__ import annotations

import threading

from e2e_support import Testbed

from autoscaler.kube.api import Api, connect
from autoscaler.kube.leases import KubeLeases
from autoscaler.loop.leader import LeaderElector


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def elector(testbed: Testbed, namespace: str, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(
        KubeLeases(Api(connect(str(testbed.kubeconfig))), namespace=namespace, name="podscale"),
        identity=identity,
        lease_duration=15,
        renew_deadline=10,
        retry_period=2,
        clock=clock,
    )


def test_one_leader_a_standby_takes_over_only_after_the_lease_expires(
    testbed: Testbed, namespace: str
) -> None:
    clock_a, clock_b = Clock(), Clock()
    a = elector(testbed, namespace, "a", clock_a)
    b = elector(testbed, namespace, "b", clock_b)
    assert a.try_acquire_or_renew() and a.leading()
    assert not b.try_acquire_or_renew() and not b.leading()
    # a stops renewing (crashed). b watches the record stay unchanged on its own clock.
    clock_b.t += 14
    assert not b.try_acquire_or_renew()
    clock_a.t += 10  # a's renew deadline has passed: it no longer considers itself leader
    assert not a.leading()
    clock_b.t += 2
    assert b.try_acquire_or_renew() and b.leading()
    assert isinstance(b.leases, KubeLeases)
    lease = b.leases.api.call("GET", f"{b.leases.path}/podscale")
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1
    # a comes back: the lease is b's and b keeps renewing, so a stays a standby.
    assert not a.try_acquire_or_renew()


def test_renewing_keeps_the_lease(testbed: Testbed, namespace: str) -> None:
    clock_a, clock_b = Clock(), Clock()
    a = elector(testbed, namespace, "a", clock_a)
    b = elector(testbed, namespace, "b", clock_b)
    assert a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    for _ in range(5):
        clock_a.t += 5
        clock_b.t += 5
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()


def test_release_hands_over_at_once(testbed: Testbed, namespace: str) -> None:
    a = elector(testbed, namespace, "a", Clock())
    b = elector(testbed, namespace, "b", Clock())
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert not a.leading()
    assert b.try_acquire_or_renew()


def test_racing_candidates_never_both_win(testbed: Testbed, namespace: str) -> None:
    candidates = [elector(testbed, namespace, f"c{i}", Clock()) for i in range(8)]
    results: list[bool] = []
    barrier = threading.Barrier(len(candidates))

    def attempt(candidate: LeaderElector) -> None:
        barrier.wait(timeout=10)
        results.append(candidate.try_acquire_or_renew())

    threads = [threading.Thread(target=attempt, args=(c,)) for c in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results.count(True) == 1
    assert sum(c.leading() for c in candidates) == 1
