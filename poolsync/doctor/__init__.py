"""``poolsync doctor``: why a Unity server is missing from the pool, with evidence.

:mod:`poolsync.doctor.model` holds the plain values, :mod:`poolsync.doctor.causes` the
pure classifier (:func:`~poolsync.doctor.causes.diagnose`), and
:mod:`poolsync.doctor.probe` asks each DC and Global Catalog what it holds (the only
I/O, through :mod:`poolsync.directory`).
"""
