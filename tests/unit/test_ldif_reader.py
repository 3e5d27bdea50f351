"""The LDIF reader: both tools' shapes read to the same entries; every bad input one
line naming the file and the line; memory that does not grow with the file."""

from __future__ import annotations

import base64
import codecs
import tracemalloc
from pathlib import Path

import pytest

from poolsync.directory.ldif_file import LdifError, read_ldif, read_records
from poolsync.errors import UserError
from poolsync.model import Entry
from tests.support.fakes import guid_bytes, location_entry, subscriber_entry
from tests.support.ldifexport import ldapsearch_bytes, ldifde_bytes

HOME = "{6F1C4A52-35F8-4BDE-9D0F-3C2B7F4F9A10}"


def sample_entries() -> list[Entry]:
    attachment = (
        '<?xml version="1.0" encoding="utf-8"?>\n<AvXmlLicData><Licenses>'
        "<LicSubscribersMax>500</LicSubscribersMax></Licenses></AvXmlLicData>"
    )
    location = location_entry(1, "UNITY-Ä", HOME, attachment)
    long_name = Entry(
        "CN=" + "x" * 200 + ",DC=lab,DC=example,DC=com",
        {
            "objectguid": [guid_bytes(7)],
            "description": [("é" * 90).encode()],
            "objectclass": [b"top", b"user"],
        },
    )
    entries = [location, subscriber_entry(1, HOME), subscriber_entry(2, HOME), long_name]
    return [without_empty(e) for e in entries]


def without_empty(entry: Entry) -> Entry:
    """An attribute without values is not written to (or read from) an export."""
    return Entry(entry.dn, {k: v for k, v in entry.attributes.items() if v})


def write(tmp_path: Path, data: bytes, name: str = "export.ldif") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def error_of(path: Path) -> LdifError:
    with pytest.raises(LdifError) as info:
        list(read_ldif(path))
    message = str(info.value)
    assert "\n" not in message
    assert isinstance(info.value, UserError) and info.value.exit_code == 2
    return info.value


@pytest.mark.parametrize("page", [1, 2, 1000])
def test_ldapsearch_output_reads_back_exactly(tmp_path: Path, page: int) -> None:
    entries = sample_entries()
    path = write(tmp_path, ldapsearch_bytes(entries, page=page))
    assert list(read_ldif(path)) == entries


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_ldifde_unicode_output_reads_as_the_ldapsearch_one(tmp_path: Path, encoding: str) -> None:
    entries = sample_entries()
    data = ldifde_bytes(entries, encoding=encoding)
    assert data.startswith(codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE)
    assert b"\r\x00\n\x00" in data or b"\x00\r\x00\n" in data
    text = data.decode(encoding)
    assert "changetype: add" in text and "\r\n " in text  # folded
    assert "é" in text  # Unicode in the clear, as ldifde -u writes it
    assert list(read_ldif(write(tmp_path, data))) == entries


def test_utf8_with_a_byte_order_mark(tmp_path: Path) -> None:
    entries = sample_entries()
    path = write(tmp_path, codecs.BOM_UTF8 + ldapsearch_bytes(entries))
    assert list(read_ldif(path)) == entries


def test_records_say_where_they_start(tmp_path: Path) -> None:
    path = write(
        tmp_path, b"version: 1\n\n# a comment\ndn: CN=a,DC=x\ncn: a\n\ndn: CN=b,DC=x\ncn: b\n\n"
    )
    assert [(r.entry.dn, r.line) for r in read_records(path)] == [
        ("CN=a,DC=x", 4),
        ("CN=b,DC=x", 7),
    ]


def test_root_dse_record_and_references_and_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        b"dn:\ndnsHostName: dc1.lab.example.com\nhighestCommittedUSN: 42"
        b"\n\n# search reference\nref: ldap://elsewhere/DC=x\n\n"
        b"dn: CN=a,DC=x\nObjectClass: top\nobjectclass: user\n\n",
    )
    root, entry = read_ldif(path)
    assert root.dn == "" and root.text("dnshostname") == "dc1.lab.example.com"
    assert entry.attributes == {"objectclass": [b"top", b"user"]}


def test_empty_file_has_no_entries(tmp_path: Path) -> None:
    assert list(read_ldif(write(tmp_path, b""))) == []


def test_base64_dn_and_values_are_bytes(tmp_path: Path) -> None:
    dn = base64.b64encode("CN=Zoë,DC=x".encode()).decode()
    path = write(
        tmp_path, f"dn:: {dn}\nobjectGUID:: {base64.b64encode(guid_bytes(3)).decode()}\n\n".encode()
    )
    [entry] = read_ldif(path)
    assert entry.dn == "CN=Zoë,DC=x"
    assert entry.attributes["objectguid"] == [guid_bytes(3)]


# -- bad input: one line, the file and the line -------------------------------------

GOOD = b"dn: CN=a,DC=x\ncn: a\n\n"


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (GOOD + b"dn: CN=b,DC=x\ncn: b", 5, "middle of a line"),
        (GOOD + b"dn: CN=b,DC=x\ncn: b\n", 5, "ends inside the record that starts at line 4"),
        (GOOD + b"dn: CN=b,DC=x\nobjectGUID:: AAEC*AwQ=\n\n", 5, "not valid base64"),
        (GOOD + b"dn: CN=b,DC=x\nobjectGUID:: AAECAwQ\n\n", 5, "not valid base64"),
        (
            GOOD + b"dn: CN=b,DC=x\nchangetype: modify\nreplace: cn\ncn: c\n-\n\n",
            5,
            "changetype: modify",
        ),
        (GOOD + b"dn: CN=b,DC=x\nchangetype: delete\n\n", 5, "changetype: delete"),
        (GOOD + b"dn: CN=b,DC=x\ncn: caf\xe9\n\n", 5, "not UTF-8 text"),
        (GOOD + b"dn: CN=b,DC=x\njpegPhoto:< file:///etc/passwd\n\n", 5, "URL"),
        (GOOD + b"cn: b\ndn: CN=b,DC=x\n\n", 4, "does not start with 'dn:'"),
        (GOOD + b"dn: CN=b,DC=x\nno colon here\n\n", 5, "not an LDIF line"),
        (b" continued\ndn: CN=a,DC=x\n\n", 1, "continued line"),
        (b"# extended LDIF\n#\n\n" + GOOD, 5, "without ldapsearch's result line"),
        (
            b"# extended LDIF\n#\n\n" + GOOD + b"# search result\nsearch: 2\n"
            b"result: 4 Size limit exceeded\n\n",
            9,
            "result: 4 Size limit exceeded",
        ),
    ],
)
def test_bad_input_names_file_and_line(tmp_path: Path, data: bytes, line: int, words: str) -> None:
    path = write(tmp_path, data)
    error = error_of(path)
    assert str(error).startswith(f"{path}:{line}: ")
    assert words in str(error)
    assert error.line == line


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (codecs.BOM_UTF32_LE + "dn: CN=a\n\n".encode("utf-32-le"), "UTF-32"),
        ("dn: CN=a\n\n".encode("utf-16-le"), "UTF-16 without a byte-order mark"),
        (codecs.BOM_UTF16_LE + "dn: CN=a,DC=x\ncn: a\n\n".encode("utf-16-le")[:-1], "cut short"),
    ],
)
def test_unknown_or_broken_encodings(tmp_path: Path, data: bytes, words: str) -> None:
    error = error_of(write(tmp_path, data))
    assert words in str(error)
    assert error.line is not None


def test_bad_utf16_names_its_line(tmp_path: Path) -> None:
    text = "dn: CN=a,DC=x\ncn: a\n\ndn: CN=b,DC=x\ncn: "
    data = (
        codecs.BOM_UTF16_LE + text.encode("utf-16-le") + b"\x00\xdc" + "\n\n".encode("utf-16-le")
    )  # a lone low surrogate
    error = error_of(write(tmp_path, data))
    assert error.line == 5 and "not UTF-16-LE text" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    error = error_of(tmp_path / "absent.ldif")
    assert "cannot read it" in str(error)


# -- memory -------------------------------------------------------------------------


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """About 4 MB of UTF-16 export read in well under 1 MB of Python memory."""
    path = tmp_path / "big.ldif"
    with path.open("wb") as out:
        out.write(codecs.BOM_UTF16_LE)
        for chunk in range(8):
            entries = [subscriber_entry(chunk * 1000 + i, HOME) for i in range(1000)]
            out.write(ldifde_bytes(entries)[2:])
    size = path.stat().st_size
    assert size > 3_500_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_ldif(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 8_000
    assert peak < 1_000_000, f"peak {peak} bytes for a {size}-byte file"
