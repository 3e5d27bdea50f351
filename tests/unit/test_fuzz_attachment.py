"""The attachment parser never crashes: random, mutated and hostile XML (hypothesis).

A pooling attachment is written by other machines, so ``parse_attachment`` must turn
any input into a :class:`~poolsync.attachment.LicenseData` or one
:class:`~poolsync.errors.AttachmentError` (the reason the pool report shows), and
nothing else: another exception would stop ``resync``, ``pool`` and ``doctor`` for
the whole forest. What parses must round-trip through ``format_attachment``; every
refusal is one short line. Entity tricks (billion laughs, quadratic blowup, external
and parameter entities) must be refused before they cost time or memory. Each test is
bounded (``max_examples``) so the module stays a few seconds long; ``make fuzz`` runs
25 times as many.
"""

from __future__ import annotations

import time
import tracemalloc
from encodings.aliases import aliases

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from poolsync.attachment import (
    MAX_ATTACHMENT_BYTES,
    LicenseData,
    format_attachment,
    parse_attachment,
)
from poolsync.errors import AttachmentError

pytestmark = pytest.mark.fuzz

#: Three times the active profile's examples: 300 by default, 7500 under `make fuzz`
#: (the "fuzz" profile in tests/conftest.py).
FUZZ = settings(
    max_examples=(settings.default.max_examples if settings.default else 100) * 3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SEED = """<?xml version="1.0" encoding="utf-8"?>
<AvXmlLicData>
  <Licenses>
    <LicSubscribersMax>500</LicSubscribersMax>
    <LicUMSubscribersMax>200</LicUMSubscribersMax>
    <LicVMISubscribersMax>50</LicVMISubscribersMax>
    <LicVoicePortsMax>24</LicVoicePortsMax>
    <LicPoolingIsEnabled>1</LicPoolingIsEnabled>
    <LicSecondaryServerIsLicensed>yes</LicSecondaryServerIsLicensed>
  </Licenses>
  <Utilization>
    <AvLicUtilizationSubscribers>480</AvLicUtilizationSubscribers>
    <AvLicUtilizationVMISubscribers>30</AvLicUtilizationVMISubscribers>
  </Utilization>
</AvXmlLicData>
"""

#: Pieces an attacker (or a broken writer) would splice into a document.
TOKENS = [
    "<",
    ">",
    "</",
    "/>",
    "&",
    ";",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x1F600;",
    "&#xD800;",
    "&#99999999;",
    "&lol;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?pi x?>",
    "<!DOCTYPE x>",
    '<!DOCTYPE AvXmlLicData [<!ENTITY a "1">]>',
    '<!ENTITY % p "x">',
    "%p;",
    '<!ENTITY e SYSTEM "file:///etc/passwd">',
    "&e;",
    'xmlns="urn:x"',
    'xmlns:a="urn:a"',
    "a:",
    "\ufeff",
    "\x00",
    "\x1b[2J",
    "\ud800",
    "\udcff",
    "é",
    "\u202e",
    "\n",
    "\r\n",
    "<Licenses>",
    "</Licenses>",
    "<Utilization>",
    "</Utilization>",
    "<AvXmlLicData>",
    "</AvXmlLicData>",
    "<LicSubscribersMax>",
    "</LicSubscribersMax>",
    "<LicPoolingIsEnabled>",
    "</LicPoolingIsEnabled>",
    "-1",
    "1_000",
    "١٢",
    "9" * 30,
    "enabled",
    "true",
    "maybe",
    '<?xml version="1.0" encoding="utf-16"?>',
    '<?xml version="1.0" encoding="x-unknown"?>',
    '<?xml version="1.1"?>',
]

#: Every codec name Python knows (and a few it does not), for the XML declaration.
ENCODINGS = sorted(
    {
        *aliases,
        *aliases.values(),
        "utf-8",
        "utf-16",
        "utf-32",
        "utf-7",
        "iso-8859-1",
        "us-ascii",
        "mbcs",
        "rot13",
        "hex",
        "base64",
        "punycode",
        "idna",
        "x-foo",
        "",
        " ",
        "utf-8\x00",
    }
)


def check(data: str | bytes) -> LicenseData | None:
    """Parse ``data``; only LicenseData or AttachmentError may come out."""
    try:
        parsed = parse_attachment(data)
    except AttachmentError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 400, message
        return None
    assert parse_attachment(format_attachment(parsed)) == parsed
    return parsed


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The seed with a few splices: tokens or random text inserted, slices cut or doubled."""
    text = SEED
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["token", "text", "cut", "double"]))
        if op == "token":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif op == "text":
            text = text[:at] + draw(st.text(max_size=12)) + text[at:]
        elif op == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        else:
            end = at + draw(st.integers(1, 80))
            text = text[:end] + text[at:end] + text[end:]
    return text


def as_bytes(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="surrogatepass" if "utf" in encoding else "replace")


@FUZZ
@given(st.binary(max_size=600))
@example(b"\xff\xfe<\x00")  # a UTF-16 BOM and half a character
@example(b"<?xml version='1.0' encoding='utf-8'?><AvXmlLicData><Licenses>\xed\xa0\x80")
def test_random_bytes(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    check(text)


@FUZZ
@given(mutated(), st.sampled_from(["str", "utf-8", "utf-16", "latin-1"]))
def test_mutated_documents(text: str, form: str) -> None:
    check(text if form == "str" else as_bytes(text, form))


@settings(max_examples=len(ENCODINGS) * 2, deadline=None)
@given(st.sampled_from(ENCODINGS), st.booleans(), st.binary(max_size=8))
@example("x-foo", True, b"")
@example("utf-32", True, b"")
@example("rot13", True, b"")
@example("idna", True, b"\x80")
@example("punycode", True, b"\x80")
def test_any_declared_encoding(encoding: str, as_raw: bool, junk: bytes) -> None:
    text = SEED.replace('encoding="utf-8"', f'encoding="{encoding}"')
    if as_raw:
        check(text.encode("utf-8").replace(b"500", b"500" + junk, 1))
    else:
        check(text)


@pytest.mark.parametrize(
    "encoding", ["x-foo", "utf-32", "mbcs", "rot13", "hex", "idna", "punycode", "utf-7"]
)
def test_unusable_declared_encoding_is_an_attachment_error(encoding: str) -> None:
    """Regression: these raised LookupError, ValueError or UnicodeError, and the first
    Location carrying one stopped `resync`, `pool` and `doctor` with an internal error."""
    data = SEED.replace("utf-8", encoding).replace("500", "500\x80").encode("latin-1")
    with pytest.raises(AttachmentError, match="unsupported character encoding"):
        parse_attachment(data)


# --- entity tricks: refused, fast, without the memory they ask for -------------------


def laughs(depth: int, width: int) -> str:
    entities = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{i} "{f"&l{i - 1};" * width}">' for i in range(1, depth + 1)
    ]
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE AvXmlLicData [{"".join(entities)}]>\n'
        f"<AvXmlLicData><Licenses><LicSubscribersMax>&l{depth};</LicSubscribersMax>"
        "</Licenses></AvXmlLicData>"
    )


def quadratic(size: int, uses: int) -> str:
    return (
        f'<!DOCTYPE AvXmlLicData [<!ENTITY a "{"a" * size}">]><AvXmlLicData><Licenses>'
        f"<X>{'&a;' * uses}</X></Licenses></AvXmlLicData>"
    )


ENTITY_TRICKS = {
    "billion-laughs": laughs(9, 10),
    "billion-laughs-deep": laughs(40, 2),
    "quadratic-blowup": quadratic(50_000, 10_000),
    "external-entity": (
        '<!DOCTYPE AvXmlLicData [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<AvXmlLicData><Licenses><X>&e;</X></Licenses></AvXmlLicData>"
    ),
    "parameter-entity": (
        '<!DOCTYPE AvXmlLicData [<!ENTITY % p SYSTEM "http://192.0.2.1/x">'
        "%p;]><AvXmlLicData><Licenses/></AvXmlLicData>"
    ),
    "external-dtd": (
        '<!DOCTYPE AvXmlLicData SYSTEM "http://192.0.2.1/x.dtd">'
        "<AvXmlLicData><Licenses/></AvXmlLicData>"
    ),
    "internal-subset-only": "<!DOCTYPE AvXmlLicData []><AvXmlLicData><Licenses/></AvXmlLicData>",
}


@pytest.mark.parametrize("name", sorted(ENTITY_TRICKS))
def test_entity_tricks_refused_fast_and_small(name: str) -> None:
    data = ENTITY_TRICKS[name]
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(AttachmentError, match="DTDs are not allowed"):
            parse_attachment(data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    # The expanded billion laughs is 3 GB and the quadratic blowup 500 MB; refusing them
    # costs a few copies of the input at most.
    assert peak < 10 * len(data) + 1_000_000


@FUZZ
@given(st.integers(1, 12), st.integers(1, 12), st.sampled_from(["str", "utf-8", "utf-16"]))
def test_generated_entity_expansions_are_refused(depth: int, width: int, form: str) -> None:
    text = laughs(depth, width)
    with pytest.raises(AttachmentError, match="DTDs are not allowed"):
        parse_attachment(text if form == "str" else text.encode(form))


# --- huge input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("15 MiB of bytes", b"<AvXmlLicData><Licenses>" + b"x" * (15 << 20)),
        ("one byte over", b" " * MAX_ATTACHMENT_BYTES + b"<"),
        ("2 MiB of text", "<AvXmlLicData>" + "é" * (1 << 20)),
    ],
)
def test_oversize_input_refused_before_parsing(label: str, data: str | bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(AttachmentError, match="-byte limit"):
        parse_attachment(data)
    assert time.perf_counter() - started < 0.5, label


@pytest.mark.parametrize("shape", ["deep", "wide", "attributes", "long-name", "comments"])
def test_large_documents_under_the_cap_parse_in_bounded_time(shape: str) -> None:
    budget = MAX_ATTACHMENT_BYTES - 100
    body = {
        "deep": "<a>" * (budget // 7) + "</a>" * (budget // 7),
        "wide": "<LicFooMax>1</LicFooMax>" * (budget // 24),
        "attributes": "<X " + " ".join(f"a{i}='{i}'" for i in range(budget // 16)) + "/>",
        "long-name": "<" + "N" * (budget // 2 - 4) + "/>",
        "comments": "<!-- pad -->" * (budget // 12),
    }[shape]
    text = f"<AvXmlLicData><Licenses>{body}</Licenses></AvXmlLicData>"
    assert len(text.encode()) <= MAX_ATTACHMENT_BYTES
    started = time.perf_counter()
    check(text)
    assert time.perf_counter() - started < 3.0


def test_huge_root_name_gives_a_short_reason() -> None:
    """Regression: the root element's name was quoted in full in the exclusion reason."""
    name = "R" * 500_000
    with pytest.raises(AttachmentError) as caught:
        parse_attachment(f"<{name}/>")
    assert len(str(caught.value)) < 120
    assert "expected AvXmlLicData" in str(caught.value)


def test_every_codec_known_to_python_is_either_read_or_refused() -> None:
    """Not random: every registered codec name once, as bytes after a declaration."""
    for encoding in ENCODINGS:
        check(SEED.replace("utf-8", encoding).encode("utf-8"))
