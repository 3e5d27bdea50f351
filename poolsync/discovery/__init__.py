"""Schema discovery: find which attributes of a forest play each profile role.

Entry points: :func:`~poolsync.discovery.sample.sample_forest` (the only I/O: the schema
and a sample of Locations and subscribers, read-only), :func:`~poolsync.discovery.roles.infer_roles`
(pure: each role from the values, with evidence and a confidence) and
:func:`~poolsync.discovery.report.build_report` with its JSON, text and profile writers.
``poolsync schema discover`` runs them; docs/schema.md explains the rules.
"""
