"""Capacity planning: where each pool and server is heading, when it runs out, and what
a change would do (``poolsync report capacity``; docs/capacity.md).

:mod:`~poolsync.capacity.model` holds the plain values. The maths (robust growth,
projection, exhaustion, recommendations) and the what-if scenarios are pure; the store
and the renderers are the edges.
"""
