"""JSON and exports are written as they are encoded, never held as one string."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolsync.cli.output import json_chunks, print_json
from poolsync.outfile import write_atomic


def big_doc(items: int) -> dict[str, object]:
    return {
        "meta": {"type": "t", "version": 2},
        "rows": [
            {
                "name": f"UNITY-{i:05d} é\u2028",
                "n": i,
                "ok": i % 2 == 0,
                "none": None,
                "list": [i, str(i)],
                "empty": [],
            }
            for i in range(items)
        ],
    }


def test_chunks_are_what_json_dumps_gives() -> None:
    doc = big_doc(5000)
    chunks = list(json_chunks(doc))
    assert "".join(chunks) == json.dumps(doc, indent=2) + "\n"
    # pieces of about 64 KiB, not one string and not one write per token
    assert len(chunks) > 5
    assert all(len(c) < 70_000 for c in chunks)
    assert all(len(c) >= 65_536 for c in chunks[:-1])


def test_a_small_document_is_one_chunk() -> None:
    assert list(json_chunks({"a": [1]})) == ['{\n  "a": [\n    1\n  ]\n}\n']


def test_print_json_streams_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    doc = big_doc(300)
    print_json(doc)
    assert json.loads(capsys.readouterr().out) == doc


def test_write_atomic_takes_pieces(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_atomic(target, json_chunks(big_doc(2000)))
    assert json.loads(target.read_text()) == big_doc(2000)
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_failure_halfway_leaves_neither_file_nor_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")

    def pieces() -> Iterator[str]:
        yield "{"
        raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError):
        write_atomic(target, pieces())
    assert target.read_text() == "old"  # the old file stays whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
