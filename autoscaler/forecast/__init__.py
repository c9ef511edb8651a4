"""Forecasts of a metric's total for predictive policies (``spec.predictive``).

The decision core only reads :class:`~autoscaler.core.model.MetricForecast` values
(``core.paths``); this package makes them, at the edge but without I/O or a clock of
its own (times are arguments, as in the core):

- :mod:`.history`: each target's metric totals, downsampled and bounded (1-minute
  buckets for the last day, 15-minute ones up to the policy's lookback), with a
  versioned byte form for persistence;
- :mod:`.fit`: a seasonal baseline fitted with scipy (periodogram-chosen daily/weekly
  periods, a robust harmonic regression) and a short-term correction that follows a
  day running hotter than usual;
- :mod:`.tracking`: each forecast compared with what was then observed (its error);
- :mod:`.forecaster`: the :class:`~autoscaler.ports.Forecaster` the loop and the
  simulator use; refits run off the sync path (``refit``), forecasts read a cached model.
"""
