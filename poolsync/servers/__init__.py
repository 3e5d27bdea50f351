"""The servers edge: what each Unity server says about its own license.

The only package that imports httpx (``http.py``) and pysnmp (``snmp.py``); their
exceptions never leave it, they become :mod:`poolsync.servers.errors` errors and then
readings. Everything else works on the plain frozen dataclasses of ``endpoints.py``
and ``model.py``. docs/servers.md says what is read and how errors are reported.

Entry points (import them from their modules; this file imports nothing, so that
``poolsync.config`` can use the endpoint dataclasses without loading the clients):

- :class:`~poolsync.servers.endpoints.ServerEndpoints` (with ``HttpEndpoint``,
  ``SnmpEndpoint``, ``SnmpAuth``): one configured server.
- :class:`~poolsync.servers.model.ServerReading`: one reading.
- :func:`~poolsync.servers.probe.probe_servers`: read every server in parallel.
- :class:`~poolsync.servers.source.LicenseSource`, the seam, and
  :func:`~poolsync.servers.source.read_server`; its implementations
  :class:`~poolsync.servers.http.HttpSource`, :class:`~poolsync.servers.snmp.SnmpSource`
  and :class:`~poolsync.servers.memory.MemorySource`.
"""
