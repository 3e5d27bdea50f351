"""What each Unity server says about its own license, read from the server itself.

A Unity server serves its effective license over HTTP (the ``AvXmlLicData`` page at
``/avxml/effectivelicense.asp``) and over SNMP (the CISCO-UNITY-MIB ``ciscoUnityLic*``
scalars). This package is poolsync's third I/O edge, beside the directory and the
store: it is the only one that imports httpx and pysnmp.

- :mod:`poolsync.servers.config`: the config's top-level ``servers:`` mapping, parsed
  into :class:`~poolsync.servers.config.ServerEndpoints` (one per server, with its
  :class:`~poolsync.servers.config.HttpEndpoint` and/or
  :class:`~poolsync.servers.config.SnmpEndpoint`) by
  :func:`~poolsync.servers.config.parse_servers`; ``Config.servers`` holds them.
- ``model``, ``http``, ``snmp``, ``memory``, ``probe``: the readings and the clients
  that take them (see their own docstrings).

Importing this package imports nothing else: the config parser must not pull in the
HTTP and SNMP libraries.
"""
