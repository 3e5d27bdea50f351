"""Reports rendered for people and machines.

Renderers take finished results of the pure core and only format them: JSON (a dict
with a ``meta`` block of type, version and generation time), CSV text with a header
row, and rich tables for a terminal. They never compute pool rules, so the three
formats of one report always agree.

Public entry points: :func:`pool_report_json`, :func:`pool_report_csv` and
:func:`pool_report_table` (the license pool report, from :mod:`poolsync.render.pool`).
"""

from __future__ import annotations

from poolsync.render.pool import pool_report_csv, pool_report_json, pool_report_table

__all__ = ["pool_report_csv", "pool_report_json", "pool_report_table"]
