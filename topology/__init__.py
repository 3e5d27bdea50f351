"""The lab topology: what ``poolsync lab`` builds.

A topology YAML file names a forest, its DCs and the Unity servers with their licenses,
subscribers and published utilization (``docs/topology.md``); ``topology/lab.yaml`` is
the one ``make demo`` builds. Entry points: :func:`topology.spec.load_topology` and
:func:`topology.spec.normalize_mac`.

Where it sits (docs/architecture.md, "What may import what"):

* ``topology`` may import poolsync's core (config, attachment, licensing, forest,
  model, errors, ...) and nothing else of poolsync: never ``poolsync.lab`` nor
  ``poolsync.cli``, nor ``bench`` or ``tests``.
* Only ``poolsync.lab`` imports ``topology``, and only where a topology file is loaded
  (:func:`poolsync.lab.build.load_topology`, which the ``lab`` command calls) or for
  types (``if TYPE_CHECKING:``); bench and the tests import it freely. Nothing else in
  poolsync imports it, so there is no cycle, and importing any poolsync module never
  loads it.
* It is a top-level package of the source tree, like ``bench`` and ``tests``, and the
  wheel does not install it (``pyproject.toml``): an installed top-level ``topology``
  would clash with PyPI's own ``topology`` project. The editable install of a checkout
  (``make venv``) makes it importable; an installed poolsync runs every command but
  ``lab up|grow|subscribers`` without it.

``tests/unit/test_layering.py`` holds these rules. Nothing heavy is imported here:
``import topology`` stays cheap, and each submodule is imported where it is used.
"""
