"""The ``poolsync`` command line (click): thin commands over the library.

:mod:`poolsync.cli.main` holds the group, the global options and the one place where
exceptions become messages and exit codes; one module per command family.
"""
