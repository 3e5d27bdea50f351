"""The sync engine: passes over the directory into the store.

Entry points: :func:`poolsync.sync.engine.total_resync` (the DOHPropTest "Total
Resync": a domain pass on the DC, then a GC pass on the Global Catalog) and the pure
decoders in :mod:`poolsync.sync.decode`.
"""
