"""``poolsync doctor``: why a Unity server is missing from the pool, with evidence.

:mod:`poolsync.doctor.model` holds the plain values, :mod:`poolsync.doctor.causes` the
pure classifier (:func:`~poolsync.doctor.causes.diagnose`), and
:mod:`poolsync.doctor.probe` asks each DC and Global Catalog what it holds (the only
I/O, through :mod:`poolsync.directory`). :func:`poolsync.doctor.gather.gather` puts the
probes, the store's view and the other forests' sightings together into the
:class:`~poolsync.doctor.model.DoctorInput` the classifier takes (``poolsync doctor``
and ``poolsync graph`` both call it).

The classifier's rules live in small pure modules that ``diagnose`` puts together:
:mod:`~poolsync.doctor.servers` (the copies read, per server and per viewer),
:mod:`~poolsync.doctor.replication` with :mod:`~poolsync.doctor.paths` (what a viewer's
Global Catalog lacks, and why), :mod:`~poolsync.doctor.mirror` (poolsync's own store),
:mod:`~poolsync.doctor.pool` (exclusions, published utilization, expected names) and
:mod:`~poolsync.doctor.live` (what each server's own reading says against its
Location's copy).
"""
