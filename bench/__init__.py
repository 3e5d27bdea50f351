"""Performance harness: how fast poolsync reads a large directory, against ldapsearch.

``python -m bench run --subscribers N`` builds (or restores from a cache) a Samba AD
lab with N subscribers, times a paged ldapsearch of the domain pass's subscriber read
against ``poolsync resync --total`` (wall time and peak RSS), then an incremental resync
after 100 changes, and prints the figures as a table or JSON. ``python -m bench scale
--locations N`` times ``doctor`` and ``graph`` beside ``resync`` on a lab of N Locations
(wall time, peak RSS, output size).

Modules: :mod:`bench.lab` (topology, cache, build and restore), :mod:`bench.measure`
(the timed runs), :mod:`bench.scale` (Locations at scale), :mod:`bench.report`
(output), :mod:`bench.__main__` (the CLI).
"""
