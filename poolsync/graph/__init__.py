"""The pooling graph (``poolsync graph``; docs/doctor.md): sites, DCs, replication
connections, Unity servers and the pool as one networkx graph, and its exports.

Pure, like the rest of the core: :func:`poolsync.graph.pooling.build_graph` takes the
forest's configuration (:class:`~poolsync.forest.ForestConfig`), the pool report, the
monitors and optionally the doctor's report and returns a
:class:`networkx.MultiDiGraph`; :mod:`poolsync.graph.export` writes it as DOT
(:func:`~poolsync.graph.export.to_dot`), SVG (:func:`~poolsync.graph.export.to_svg`,
the one function that starts a program: Graphviz's ``dot``), GraphML and JSON.

Nothing heavy is imported here: networkx loads with the submodules, only for the
commands that draw.
"""
