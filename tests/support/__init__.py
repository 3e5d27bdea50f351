"""What the tests share: helpers, fakes, scripted servers, the contract suites' bodies.

Test modules import from here, never from one another nor from ``tests/conftest.py``
(tests/unit/test_test_imports.py holds them to it). ``lab`` brings a Samba lab up and
says what one needs; ``helpers`` runs the CLI; ``fakes`` builds entries, configs and
memory forests; ``fakedc``, ``faultproxy``, ``serverlab`` and ``unity_agent`` are
scripted or real servers the tests start; ``source_contract`` and ``servers_contract``
are the contract suites every source is held to.
"""
