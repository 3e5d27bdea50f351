"""What each Unity server says about its own license, read from the server itself.

A Unity server serves its effective license over HTTP (the ``AvXmlLicData`` page at
``/avxml/effectivelicense.asp``) and over SNMP (the CISCO-UNITY-MIB ``ciscoUnityLic*``
scalars). This package is poolsync's third I/O edge, beside the directory and the
store: the only one that imports httpx (``http.py``) and pysnmp (``snmp.py``); their
exceptions never leave it, they become :mod:`poolsync.servers.errors` errors and then
readings. Everything else works on the plain frozen dataclasses of ``endpoints.py``
and ``model.py``. docs/servers.md says what is read and how errors are reported.

Entry points (import them from their modules; this file imports nothing, so that
``poolsync.config`` can parse the ``servers:`` section without loading the clients):

- :func:`~poolsync.servers.config.parse_servers`: the config's ``servers:`` mapping,
  as :class:`~poolsync.servers.endpoints.ServerEndpoints` (with ``HttpEndpoint``,
  ``SnmpEndpoint``, ``SnmpAuth``); ``Config.servers`` holds them.
- :class:`~poolsync.servers.model.ServerReading`: one reading.
- :func:`~poolsync.servers.probe.probe_servers`: read every server in parallel.
- :class:`~poolsync.servers.source.LicenseSource`, the seam, and
  :func:`~poolsync.servers.source.read_server`; its implementations
  :class:`~poolsync.servers.http.HttpSource`, :class:`~poolsync.servers.snmp.SnmpSource`
  and :class:`~poolsync.servers.memory.MemorySource`.
"""
