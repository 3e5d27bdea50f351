"""Capacity planning: where each pool and server is heading, when it runs out, and what
a change would do (``poolsync report capacity``; docs/capacity.md).

Everything here is pure. Entry points:

* :func:`poolsync.capacity.project.project`: snapshots -> a
  :class:`~poolsync.capacity.model.CapacityReport` (Theil-Sen growth over the window,
  projection with license changes, exhaustion, seats needed, recommendations);
* :func:`poolsync.capacity.scenario.load_scenario` and
  :func:`poolsync.capacity.whatif.apply` / :func:`~poolsync.capacity.whatif.what_if`:
  what-if scenario files;
* :mod:`poolsync.capacity.history`: snapshots from a pool report, and the CSV / JSON
  history files of ``history export`` / ``history import``.
"""
