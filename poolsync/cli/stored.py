"""What the commands that report from the store (``pool``, ``graph``) ask of it first.

Shared by command modules, so that none imports another command's module.
"""

from __future__ import annotations

from poolsync.errors import StoreError
from poolsync.store import Store


def require_synced(store: Store) -> None:
    """Stop (StoreError) when the store holds no committed resync yet."""
    if not store.has_data():
        raise StoreError(
            f"{store.path} holds no completed resync: run `poolsync resync --total` first"
        )
