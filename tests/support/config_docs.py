"""Config documents for the config tests: a valid base document, writing one, and the
ConfigError loading one raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from poolsync.config import load_config
from poolsync.errors import ConfigError


def base_doc() -> dict[str, Any]:
    """The smallest valid config, as a fresh dict the test may change."""
    return {
        "forest": "lab.example.com",
        "directory": {
            "dc": {"url": "ldaps://dc1.lab.example.com"},
            "bind": {"user": "svc@lab.example.com", "password": {"env": "POOLSYNC_PW"}},
        },
    }


def write(tmp_path: Path, doc: object, name: str = "poolsync.yaml") -> Path:
    path = tmp_path / name
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)
