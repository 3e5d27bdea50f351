"""The lab topology: what ``poolsync lab`` builds.

A topology YAML file names a forest, its DC and the Unity servers with their licenses,
subscribers and published utilization (``docs/topology.md``). Entry points:
:func:`topology.spec.load_topology` and :func:`topology.spec.normalize_mac`.

Nothing heavy is imported here: ``import topology`` stays cheap, and each submodule
is imported where it is used.
"""
