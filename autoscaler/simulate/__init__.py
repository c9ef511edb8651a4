"""``autoscaler simulate``: replay a traffic trace through the real control loop.

The loop (:class:`autoscaler.loop.controller.Controller`) and the decision core are the
ones ``autoscaler run`` uses; only the I/O edges are swapped for adapters over the
simulator's :class:`~autoscaler.sim.cluster.InMemoryCluster`, on a manual clock, so a
day of traffic replays in about a second and the same inputs give the same report.
"""
