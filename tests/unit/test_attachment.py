"""The AvXmlLicData parser and writer: round trip, values, and every refusal."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.attachment import (
    COUNTERS,
    FLAGS,
    MAX_ATTACHMENT_BYTES,
    LicenseData,
    format_attachment,
    license_data,
    parse_attachment,
)
from poolsync.errors import AttachmentError
from poolsync.model import SEAT_CLASSES, SeatClass, Seats

EXAMPLE = """<?xml version="1.0" encoding="utf-8"?>
<AvXmlLicData>
  <Licenses>
    <LicSubscribersMax>500</LicSubscribersMax>
    <LicUMSubscribersMax>200</LicUMSubscribersMax>
    <LicVMISubscribersMax>50</LicVMISubscribersMax>
    <LicVoicePortsMax>24</LicVoicePortsMax>
    <LicPoolingIsEnabled>1</LicPoolingIsEnabled>
    <LicSecondaryServerIsLicensed>1</LicSecondaryServerIsLicensed>
  </Licenses>
  <Utilization>
    <AvLicUtilizationSubscribers>480</AvLicUtilizationSubscribers>
    <AvLicUtilizationUMSubscribers>150</AvLicUtilizationUMSubscribers>
    <AvLicUtilizationVMISubscribers>30</AvLicUtilizationVMISubscribers>
  </Utilization>
</AvXmlLicData>
"""


def doc(licenses: str, utilization: str | None = None) -> str:
    body = f"<Licenses>{licenses}</Licenses>"
    if utilization is not None:
        body += f"<Utilization>{utilization}</Utilization>"
    return f"<AvXmlLicData>{body}</AvXmlLicData>"


def test_example_document_values() -> None:
    data = parse_attachment(EXAMPLE)
    assert data.licensed == Seats(vm=500, um=200, inbox=50)
    assert data.published_used == Seats(vm=480, um=150, inbox=30)
    assert data.published_classes == SEAT_CLASSES
    assert data.pooling_enabled is True
    assert data.secondary_licensed is True
    assert data.voice_ports == 24


def test_example_document_is_what_format_writes() -> None:
    data = license_data(
        licensed=Seats(500, 200, 50),
        pooling=True,
        secondary=True,
        ports=24,
        published=Seats(480, 150, 30),
    )
    assert format_attachment(data) == EXAMPLE


def test_absent_values_default() -> None:
    data = parse_attachment(doc("<LicSubscribersMax>7</LicSubscribersMax>"))
    assert data.licensed == Seats(vm=7, um=0, inbox=0)
    assert data.pooling_enabled is False
    assert data.secondary_licensed is False
    assert data.voice_ports == 0
    assert data.published_used is None
    assert data.published_classes == ()


def test_empty_utilization_means_not_published() -> None:
    for text in (doc("", ""), doc("", "<Other>x</Other>"), doc("", "<Other>3</Other>")):
        data = parse_attachment(text)
        assert data.published_used is None
        assert data.published_classes == ()


def test_utilization_without_seat_counters_is_not_published() -> None:
    # A real server may publish only its secondary-server counter: no seat use at all.
    data = parse_attachment(
        doc("", "<AvLicUtilizationSecondaryServer>1</AvLicUtilizationSecondaryServer>")
    )
    assert data.utilization == {"AvLicUtilizationSecondaryServer": 1}
    assert data.published_used is None
    assert data.published_classes == ()


def test_real_server_utilization_has_no_um_counter() -> None:
    # What a Unity 4.x server publishes: VM and Inbox, but no UM counter (poolsync's own).
    data = parse_attachment(
        doc(
            "",
            "<AvLicUtilizationSubscribers>480</AvLicUtilizationSubscribers>"
            "<AvLicUtilizationVMISubscribers>30</AvLicUtilizationVMISubscribers>"
            "<AvLicUtilizationSecondaryServer>1</AvLicUtilizationSecondaryServer>",
        )
    )
    assert data.published_classes == (SeatClass.VM, SeatClass.INBOX)
    assert data.published_used == Seats(vm=480, um=0, inbox=30)


def test_partial_utilization_lists_only_present_classes() -> None:
    data = parse_attachment(doc("", "<AvLicUtilizationSubscribers>9</AvLicUtilizationSubscribers>"))
    assert data.published_classes == (SeatClass.VM,)
    assert data.published_used == Seats(vm=9, um=0, inbox=0)
    # a counter of 0 is published (that nothing is used), unlike an absent one
    data = parse_attachment(
        doc("", "<AvLicUtilizationUMSubscribers>0</AvLicUtilizationUMSubscribers>")
    )
    assert data.published_classes == (SeatClass.UM,)
    assert data.published_used == Seats()


def test_published_classes_follow_seat_class_order_not_document_order() -> None:
    data = LicenseData(
        licenses={},
        utilization={"AvLicUtilizationVMISubscribers": 2, "AvLicUtilizationSubscribers": 1},
    )
    assert data.published_classes == (SeatClass.VM, SeatClass.INBOX)
    assert data.published_used == Seats(vm=1, um=0, inbox=2)


def test_whitespace_around_values_and_bytes_input() -> None:
    text = doc("<LicSubscribersMax>\n  12 \n</LicSubscribersMax>")
    assert parse_attachment(text.encode("utf-8")).licensed.vm == 12


def test_utf16_document_with_bom() -> None:
    text = EXAMPLE.replace("utf-8", "utf-16")
    assert parse_attachment(text.encode("utf-16")) == parse_attachment(EXAMPLE)


def test_str_with_leading_bom() -> None:
    assert parse_attachment("\ufeff" + EXAMPLE) == parse_attachment(EXAMPLE)


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("1", 1),
        ("0", 0),
        ("Licensed", 1),
        ("NotLicensed", 0),
        ("ENABLED", 1),
        ("disabled", 0),
        ("True", 1),
        ("false", 0),
        ("yes", 1),
        ("No", 0),
        (" yes ", 1),
    ],
)
def test_flag_words(word: str, value: int) -> None:
    data = parse_attachment(doc(f"<LicPoolingIsEnabled>{word}</LicPoolingIsEnabled>"))
    assert data.licenses["LicPoolingIsEnabled"] == value
    assert data.pooling_enabled is (value == 1)


def test_flag_words_on_unknown_flag_named_parameter() -> None:
    data = parse_attachment(doc("<LicNewFeatureIsLicensed>Licensed</LicNewFeatureIsLicensed>"))
    assert data.licenses["LicNewFeatureIsLicensed"] == 1


def test_unknown_parameters_kept_or_ignored() -> None:
    data = parse_attachment(
        doc(
            "<LicFutureThingMax>17</LicFutureThingMax>"
            "<LicFutureLabel>gold</LicFutureLabel>"
            "<LicFutureThingMax>99</LicFutureThingMax>"
            "<!-- a comment -->",
            "<AvLicUtilizationNew>-3</AvLicUtilizationNew>",
        )
    )
    assert data.licenses == {"LicFutureThingMax": 17}
    assert data.utilization == {"AvLicUtilizationNew": -3}


def test_unknown_sections_ignored() -> None:
    text = "<AvXmlLicData><Extra><X>1</X></Extra>" + doc("")[len("<AvXmlLicData>") :]
    assert parse_attachment(text).licenses == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<AvXmlLicData>\n<Licenses>\n  <a></Licenses>", "not well-formed XML: line 3, column"),
        ("<Foo/>", "root element is 'Foo', expected AvXmlLicData"),
        ("<AvXmlLicData/>", "missing <Licenses> section"),
        ("<AvXmlLicData><Utilization/></AvXmlLicData>", "missing <Licenses> section"),
        (
            doc("<LicSubscribersMax>abc</LicSubscribersMax>"),
            "LicSubscribersMax: 'abc' is not a whole number",
        ),
        (
            doc("<LicSubscribersMax>1.5</LicSubscribersMax>"),
            "LicSubscribersMax: '1.5' is not a whole number",
        ),
        (doc("<LicSubscribersMax/>"), "LicSubscribersMax: '' is not a whole number"),
        (
            doc("", "<AvLicUtilizationSubscribers>1_000</AvLicUtilizationSubscribers>"),
            "AvLicUtilizationSubscribers: '1_000' is not a whole number",
        ),
        (doc("<LicSubscribersMax>-1</LicSubscribersMax>"), "negative value for LicSubscribersMax"),
        (
            doc("<LicPoolingIsEnabled>maybe</LicPoolingIsEnabled>"),
            "LicPoolingIsEnabled: 'maybe' is not a flag (expected 1 or 0)",
        ),
        (
            doc("<LicPoolingIsEnabled>2</LicPoolingIsEnabled>"),
            "LicPoolingIsEnabled: '2' is not a flag (expected 1 or 0)",
        ),
        (
            doc("<LicVoicePortsMax>" + "9" * 30 + "</LicVoicePortsMax>"),
            "LicVoicePortsMax: '999999999999999999999999999999' is too large",
        ),
        (
            doc("<LicSubscribersMax>1</LicSubscribersMax><LicSubscribersMax>2</LicSubscribersMax>"),
            "duplicate <LicSubscribersMax> in <Licenses>",
        ),
        (
            "<AvXmlLicData><Licenses/><Licenses/></AvXmlLicData>",
            "duplicate <Licenses> section",
        ),
        ("", "attachment is empty"),
        (
            "<AvXmlLicData>\udcff</AvXmlLicData>",
            "not valid Unicode: unpaired surrogate at character 14",
        ),
        ("  \n ", "attachment is empty"),
    ],
)
def test_error_messages(text: str, message: str) -> None:
    with pytest.raises(AttachmentError) as info:
        parse_attachment(text)
    assert str(info.value).startswith(message)
    if not message.endswith("column"):
        assert str(info.value) == message


def test_not_well_formed_names_line_and_column() -> None:
    with pytest.raises(AttachmentError, match=r"^not well-formed XML: line 2, column \d+ \("):
        parse_attachment(b"<AvXmlLicData>\n<<Licenses/></AvXmlLicData>")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE AvXmlLicData [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<AvXmlLicData><Licenses><LicSubscribersMax>&lol3;</LicSubscribersMax></Licenses></AvXmlLicData>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE AvXmlLicData [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<AvXmlLicData><Licenses><LicSubscribersMax>&x;</LicSubscribersMax></Licenses></AvXmlLicData>
"""

PLAIN_DTD = """<?xml version="1.0"?>
<!DOCTYPE AvXmlLicData SYSTEM "http://example.invalid/lic.dtd">
<AvXmlLicData><Licenses/></AvXmlLicData>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY, PLAIN_DTD])
def test_dtds_and_entities_refused(text: str) -> None:
    with pytest.raises(AttachmentError, match="DTDs are not allowed"):
        parse_attachment(text)
    with pytest.raises(AttachmentError, match="DTDs are not allowed"):
        parse_attachment(text.encode("utf-8"))


def test_undeclared_entity_is_not_well_formed() -> None:
    with pytest.raises(AttachmentError, match="undefined entity"):
        parse_attachment(doc("<LicSubscribersMax>&lol;</LicSubscribersMax>"))


def padded(size: int) -> str:
    """A valid attachment of exactly *size* UTF-8 bytes (padding in a comment)."""
    base = doc("<LicSubscribersMax>5</LicSubscribersMax>")
    filler = size - len(base.encode()) - len("<!---->")
    return base + "<!--" + "x" * filler + "-->"


def test_size_limit_is_inclusive() -> None:
    text = padded(MAX_ATTACHMENT_BYTES)
    assert len(text.encode()) == MAX_ATTACHMENT_BYTES
    assert parse_attachment(text).licensed.vm == 5


@pytest.mark.parametrize("as_bytes", [False, True])
def test_oversize_refused(as_bytes: bool) -> None:
    text = padded(MAX_ATTACHMENT_BYTES + 1)
    with pytest.raises(AttachmentError) as info:
        parse_attachment(text.encode() if as_bytes else text)
    assert str(info.value) == "attachment is 1048577 bytes, over the 1048576-byte limit"


def test_oversize_counts_utf8_bytes_not_characters() -> None:
    text = padded(MAX_ATTACHMENT_BYTES - 1).replace("xx", "é", 1)  # one char, two bytes
    assert len(text) == MAX_ATTACHMENT_BYTES - 2
    with pytest.raises(AttachmentError, match="over the 1048576-byte limit"):
        parse_attachment(text + "é")


def test_license_data_is_immutable() -> None:
    source = {"LicSubscribersMax": 5}
    data = LicenseData(licenses=source, utilization={})
    source["LicSubscribersMax"] = 6
    assert data.licensed.vm == 5
    with pytest.raises(TypeError):
        data.licenses["LicSubscribersMax"] = 7  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.licenses = {}  # type: ignore[misc]


@pytest.mark.parametrize(
    ("licenses", "message"),
    [
        ({"LicSubscribersMax": -1}, "negative value for LicSubscribersMax"),
        ({"LicPoolingIsEnabled": 2}, "must be 0 or 1"),
        ({"not a name": 1}, "not a valid parameter name"),
        ({"LicSubscribersMax": True}, "must be an int"),
    ],
)
def test_license_data_refuses_what_cannot_round_trip(
    licenses: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LicenseData(licenses=licenses, utilization={})


_KNOWN = COUNTERS | FLAGS
_unknown_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,20}\Z").filter(
    lambda n: n not in _KNOWN
)
_section = st.dictionaries(
    st.one_of(
        st.sampled_from(sorted(COUNTERS)).map(lambda n: (n, "counter")),
        st.sampled_from(sorted(FLAGS)).map(lambda n: (n, "flag")),
        _unknown_names.map(lambda n: (n, "unknown")),
    ),
    st.integers(min_value=-(10**17), max_value=10**17),
    max_size=12,
).map(
    lambda raw: {
        name: (abs(v) if kind == "counter" else v % 2 if kind == "flag" else v)
        for (name, kind), v in raw.items()
    }
)


@given(licenses=_section, utilization=_section)
def test_round_trip(licenses: dict[str, int], utilization: dict[str, int]) -> None:
    data = LicenseData(licenses=licenses, utilization=utilization)
    text = format_attachment(data)
    assert parse_attachment(text) == data
    assert parse_attachment(text.encode("utf-8")) == data
    assert format_attachment(parse_attachment(text)) == text


@given(
    licensed=st.builds(Seats, *[st.integers(0, 10**6)] * 3),
    published=st.none() | st.builds(Seats, *[st.integers(0, 10**6)] * 3),
    pooling=st.booleans(),
    secondary=st.booleans(),
    ports=st.integers(0, 72),
)
def test_license_data_helper_round_trips_through_properties(
    licensed: Seats, published: Seats | None, pooling: bool, secondary: bool, ports: int
) -> None:
    data = parse_attachment(
        format_attachment(
            license_data(
                licensed=licensed,
                pooling=pooling,
                secondary=secondary,
                ports=ports,
                published=published,
            )
        )
    )
    assert data.licensed == licensed
    assert data.published_used == published
    assert data.published_classes == (() if published is None else SEAT_CLASSES)
    assert data.pooling_enabled is pooling
    assert data.secondary_licensed is secondary
    assert data.voice_ports == ports
