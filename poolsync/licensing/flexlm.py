"""A Unity license file (FLEXlm text) read into feature lines and problems. Pure.

:func:`parse_license_file` takes the file's bytes and never raises: whatever is wrong
(binary data, a wrong encoding, an overlong line, an unbalanced quote, an unknown
parameter, a bad date) becomes a :class:`Problem` with a line number, so one run can
say everything that is wrong with a file. The line grammar (docs/licenses.md):

* ``FEATURE|INCREMENT name vendor version expiry count [license-key] [KEY=value ...]``
* ``SERVER host hostid [port]``, ``VENDOR name [...]`` (``DAEMON`` is FLEXlm's older
  spelling), ``USE_SERVER``
* ``#`` comments (a whole line), a trailing backslash continues a line, ``"..."``
  quotes a value with blanks, keywords and keys are case-insensitive.

What the lines mean together (cumulative INCREMENTs, FEATURE overrides, expiry) is
:mod:`poolsync.licensing.effective`'s business; this module only reads one file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Final, Literal

from poolsync.licensing import params
from poolsync.licensing.dates import parse_date, parse_expiry
from poolsync.licensing.mac import normalize_mac

__all__ = [
    "ANY",
    "MAX_FILE_BYTES",
    "MAX_LINE_BYTES",
    "MAX_LOGICAL_LINE",
    "MAX_PROBLEMS",
    "MAX_WARNINGS",
    "FeatureLine",
    "LicenseFile",
    "Problem",
    "parse_license_file",
]

Severity = Literal["error", "warning"]
Kind = Literal["FEATURE", "INCREMENT"]

# Problem codes (docs/licenses.md, "Problem codes").
SYNTAX: Final = "syntax"
UNKNOWN_PARAMETER: Final = "unknown-parameter"
UNKNOWN_KEY: Final = "unknown-key"
HOSTID_MISSING: Final = "hostid-missing"
NO_FEATURES: Final = "no-features"

#: The host ID of a demo file: any machine.
ANY: Final = "ANY"

#: Real license files are a few kilobytes; anything this large is not one.
MAX_FILE_BYTES: Final = 1024 * 1024
#: One physical line. A FLEXlm line with a long SIGN= is a few hundred bytes.
MAX_LINE_BYTES: Final = 4096
#: One logical line (continuations joined).
MAX_LOGICAL_LINE: Final = 16 * 1024
#: After this many errors a file is clearly not a license file; stop reading.
MAX_PROBLEMS: Final = 50
#: Warnings listed per file; the rest are counted in one more warning. Warnings never
#: stop the reading: the lines they are on still count.
MAX_WARNINGS: Final = 50

_KEYWORDS: Final = ("FEATURE", "INCREMENT", "SERVER", "VENDOR", "DAEMON", "USE_SERVER")
_UNSUPPORTED: Final = frozenset({"PACKAGE", "UPGRADE", "FEATURESET"})
_VENDOR: Final = re.compile(r"[A-Za-z0-9_]{1,32}")
_VERSION: Final = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")
_COUNT: Final = re.compile(r"[0-9]{1,12}")
_LICENSE_KEY: Final = re.compile(r"[0-9A-Fa-f]{12,64}")
_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
#: FLEXlm keys poolsync reads past without using them (signatures, notices, options).
_IGNORED_KEYS: Final = frozenset(
    {
        "SIGN",
        "SIGN2",
        "CK",
        "NOTICE",
        "ISSUER",
        "SN",
        "VENDOR_STRING",
        "DUP_GROUP",
        "OVERDRAFT",
        "SUPERSEDE",
        "USER_BASED",
        "HOST_BASED",
        "PLATFORMS",
        "BORROW",
        "TS_OK",
        "VENDOR_INFO",
        "DIST_INFO",
        "USER_INFO",
        "ASSET_INFO",
        "MINIMUM",
        "SUITE_DUP_GROUP",
        "ISV_INFO",
    }
)
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a license file.

    ``line`` is the 1-based line where it starts (None: the file as a whole). An
    ``error`` makes the file unusable (it contributes nothing); a ``warning`` does not.
    """

    line: int | None
    code: str
    message: str
    severity: Severity = "error"


@dataclass(frozen=True, slots=True)
class FeatureLine:
    """One FEATURE or INCREMENT line that parsed cleanly.

    ``expiry`` is the last day the line counts (None: permanent); ``start`` the first
    (None: from the beginning); ``issued`` the ISSUED= date (informational, but a demo
    file's term is counted from it). ``hostid`` is ``ANY`` or 12 upper-case hex digits,
    from the line's HOSTID= or else the file's SERVER line.
    """

    line: int
    kind: Kind
    name: str
    vendor: str
    version: str
    expiry: date | None
    count: int
    hostid: str
    start: date | None = None
    issued: date | None = None

    def active(self, on: date) -> bool:
        """Whether the line counts on day *on* (expiry day included)."""
        if self.start is not None and on < self.start:
            return False
        return self.expiry is None or on <= self.expiry


@dataclass(frozen=True, slots=True)
class LicenseFile:
    """A parsed license file: its clean feature lines and everything wrong with it."""

    path: str
    features: tuple[FeatureLine, ...]
    problems: tuple[Problem, ...]
    #: The one host ID the file is bound to (None when it has none or several).
    hostid: str | None

    @property
    def ok(self) -> bool:
        """No errors: the file can contribute (host ID and dates permitting)."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def is_demo(self) -> bool:
        """A demo file: bound to any host (HOSTID=ANY) [model, docs/licenses.md]."""
        return self.hostid == ANY and bool(self.features)

    @property
    def expires(self) -> date | None:
        """The file's last day: its latest line expiry; None if a line is permanent."""
        if not self.features or any(f.expiry is None for f in self.features):
            return None
        return max(f.expiry for f in self.features if f.expiry is not None)


# -- reading lines ---------------------------------------------------------------------


@dataclass(slots=True)
class _Logical:
    """A logical line: physical lines joined at trailing backslashes."""

    line: int
    text: str = ""
    #: (offset in text, physical line number) where each physical line starts.
    segments: list[tuple[int, int]] = field(default_factory=list)
    broken: bool = False

    def column(self, offset: int) -> str:
        """``column C`` of the physical line that holds *offset*."""
        start = 0
        for seg_start, _line in self.segments:
            if seg_start <= offset:
                start = seg_start
        return f"column {offset - start + 1}"

    def line_at(self, offset: int) -> int:
        line = self.line
        for seg_start, seg_line in self.segments:
            if seg_start <= offset:
                line = seg_line
        return line


class _TooMany(Exception):
    """Internal: the problem cap was reached; stop reading the file."""


class _Collector:
    """Problems as found. Only errors count toward :data:`MAX_PROBLEMS` (a file full of
    valid lines with unknown keys is still a license file); warnings past
    :data:`MAX_WARNINGS` are dropped and counted in one last warning."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.errors = 0
        self.warnings = 0
        self.dropped: dict[str, int] = {}

    def add(self, line: int | None, code: str, message: str, severity: Severity = "error") -> None:
        if severity == "warning":
            self.warnings += 1
            if self.warnings > MAX_WARNINGS:
                self.dropped[code] = self.dropped.get(code, 0) + 1
            else:
                self.problems.append(Problem(line, code, message, severity))
            return
        if self.errors >= MAX_PROBLEMS:
            self.problems.append(
                Problem(
                    None,
                    SYNTAX,
                    f"more than {MAX_PROBLEMS} errors: stopped reading; "
                    "this does not look like a license file",
                )
            )
            raise _TooMany
        self.errors += 1
        self.problems.append(Problem(line, code, message, severity))

    def finish(self) -> None:
        """Count the warnings that were not listed, in one warning of the first code."""
        if self.dropped:
            code = next(iter(self.dropped))
            total = sum(self.dropped.values())
            self.problems.append(
                Problem(
                    None,
                    code,
                    f"{total:,} more warnings not listed (only the first "
                    f"{MAX_WARNINGS} are); the lines they are on still count",
                    "warning",
                )
            )


def _shown(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _decode(raw: bytes, number: int, out: _Collector) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.add(
            number,
            SYNTAX,
            f"column {exc.start + 1}: byte "
            f"0x{raw[exc.start]:02X} is not UTF-8 text (a license file is plain ASCII; "
            "was it saved in another encoding?)",
        )
        return None


def _logical_lines(data: bytes, out: _Collector) -> list[_Logical]:
    lines: list[_Logical] = []
    current: _Logical | None = None
    physical = data.splitlines()
    for number, raw in enumerate(physical, start=1):
        if current is None and raw.lstrip(b" \t").startswith(b"#"):
            continue  # a comment, whatever its bytes (Latin-1 notices are common)
        if current is None:
            current = _Logical(line=number)
        if len(raw) > MAX_LINE_BYTES:
            out.add(
                number,
                SYNTAX,
                f"the line is {len(raw)} bytes long, over the "
                f"{MAX_LINE_BYTES}-byte limit for a license file line",
            )
            current.broken = True
            raw = raw[:MAX_LINE_BYTES]
        decoded = None if current.broken else _decode(raw, number, out)
        if decoded is None:
            current.broken = True
            decoded = raw.decode("utf-8", "replace")  # only to see a trailing backslash
        stripped = decoded.rstrip(" \t")
        continued = stripped.endswith("\\")
        if continued:
            stripped = stripped[:-1]
        if not current.broken:
            current.segments.append((len(current.text), number))
            current.text += stripped + (" " if continued else "")
            if len(current.text) > MAX_LOGICAL_LINE:
                out.add(
                    current.line,
                    SYNTAX,
                    f"the line is continued over more than {MAX_LOGICAL_LINE} characters",
                )
                current.broken = True
        if continued:
            if number == len(physical):
                out.add(
                    number,
                    SYNTAX,
                    "the line ends with a backslash (continued line) but the file ends there",
                )
                current.broken = True
            else:
                continue
        lines.append(current)
        current = None
    return lines


@dataclass(frozen=True, slots=True)
class _Token:
    text: str  # quotes removed
    offset: int
    key: str | None = None  # upper-cased, for KEY=value


def _tokens(logical: _Logical, out: _Collector) -> list[_Token] | None:
    text = logical.text
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        start = i
        quote_at = -1
        while i < n and (quote_at >= 0 or text[i] not in " \t"):
            if text[i] == '"':
                quote_at = i if quote_at < 0 else -1
            i += 1
        if quote_at >= 0:
            out.add(
                logical.line_at(quote_at),
                SYNTAX,
                f'{logical.column(quote_at)}: unbalanced quote: this " is never closed',
            )
            return None
        raw = text[start:i]
        eq = raw.find("=")
        first_quote = raw.find('"')
        if eq > 0 and (first_quote < 0 or eq < first_quote):
            tokens.append(_Token(raw[eq + 1 :].replace('"', ""), start, raw[:eq].upper()))
        elif eq == 0:
            out.add(
                logical.line_at(start),
                SYNTAX,
                f"{logical.column(start)}: {_shown(raw)} has no key before '='",
            )
            return None
        else:
            tokens.append(_Token(raw.replace('"', ""), start))
    return tokens


def _printable(logical: _Logical, out: _Collector) -> bool:
    for offset, char in enumerate(logical.text):
        if char != "\t" and not char.isprintable():
            out.add(
                logical.line_at(offset),
                SYNTAX,
                f"{logical.column(offset)}: character U+{ord(char):04X} is not printable "
                "text (binary data, or a character pasted from a document?)",
            )
            return False
    return True


# -- one line ---------------------------------------------------------------------------


class _LineError(Exception):
    """Internal: the line is unusable; carries the problem (line, code, message)."""

    def __init__(self, line: int, code: str, message: str) -> None:
        super().__init__(message)
        self.line, self.code, self.message = line, code, message


def _hostid(value: str) -> str:
    """``ANY`` (or FLEXlm's ``DEMO``) or a MAC; ValueError says what is wrong."""
    if value.upper() in (ANY, "DEMO"):
        return ANY
    if len(value) > 40:
        raise ValueError(f"{_shown(value)} is not a MAC address or ANY")
    try:
        return normalize_mac(value)
    except ValueError as exc:
        raise ValueError(f"is not a MAC address or ANY: {exc}") from None


def _count(text: str, name: str) -> int:
    if text.lower() == "uncounted":
        raise ValueError(
            "count 'uncounted': poolsync reads the count as the value of "
            f"{name}, so it must be a whole number"
        )
    if not _COUNT.fullmatch(text):
        raise ValueError(f"count {_shown(text)} is not a whole number")
    value = int(text)
    if params.is_flag(name) and value not in (0, 1):
        raise ValueError(f"{name} is a flag: count must be 1 (licensed) or 0, not {value}")
    if value > params.MAX_COUNT:
        raise ValueError(
            f"count {value} is over {params.MAX_COUNT:,}, more than any Unity server has"
        )
    return value


@dataclass(slots=True)
class _FileState:
    server_hostid: str | None = None
    server_line: int | None = None
    #: (line, kind, name, vendor, version, expiry, count, hostid or None, start, issued)
    features: list[
        tuple[int, Kind, str, str, str, date | None, int, str | None, date | None, date | None]
    ] = field(default_factory=list)


def _fail(logical: _Logical, token: _Token, message: str) -> _LineError:
    """A syntax error at ``token``: its physical line, and its column in the message."""
    return _LineError(
        logical.line_at(token.offset), SYNTAX, f"{logical.column(token.offset)}: {message}"
    )


def _words(logical: _Logical, tokens: list[_Token]) -> tuple[list[_Token], dict[str, _Token]]:
    """A FEATURE/INCREMENT line's positional words and its KEY=value pairs (which follow
    the words, each key once, each with a value)."""
    positional: list[_Token] = []
    keys: dict[str, _Token] = {}
    for token in tokens[1:]:
        if token.key is None:
            if keys:
                raise _fail(
                    logical, token, f"unexpected word {_shown(token.text)} after KEY=value pairs"
                )
            positional.append(token)
            continue
        if not _KEY.fullmatch(token.key):
            raise _fail(logical, token, f"{_shown(token.key)} is not a KEY name")
        if token.key in keys:
            raise _fail(logical, token, f"{token.key}= given twice")
        if not token.text:
            raise _fail(logical, token, f"{token.key}= has no value")
        keys[token.key] = token
    return positional, keys


def _fields(
    logical: _Logical, kind: Kind, positional: list[_Token]
) -> tuple[str, str, str, date | None, int]:
    """Name, vendor, version, expiry and count, each checked, from the positional words
    (an old file's hex license key may follow them)."""
    line = logical.line
    if len(positional) < 5:
        raise _LineError(
            line,
            SYNTAX,
            f"{kind} needs name, vendor, version, expiry and count; got {len(positional)} of them",
        )
    if len(positional) > 6 or (
        len(positional) == 6 and not _LICENSE_KEY.fullmatch(positional[5].text)
    ):
        raise _fail(
            logical,
            positional[5],
            f"unexpected word {_shown(positional[5].text)}: "
            "after the count only KEY=value pairs follow (and, in old files, one hex "
            "license key)",
        )
    name, vendor, version, expiry_text, count_text = (t.text for t in positional[:5])
    if name not in params.PARAMETERS:
        hint = params.suggest(name) if len(name) <= 64 else None
        advice = (
            f"did you mean {hint}? (names are case-sensitive)"
            if hint
            else f"a Unity license file sets one of {', '.join(params.PARAMETERS)}"
        )
        raise _LineError(
            line, UNKNOWN_PARAMETER, f"{_shown(name)} is not a Unity license parameter; {advice}"
        )
    if not _VENDOR.fullmatch(vendor):
        raise _fail(
            logical,
            positional[1],
            f"vendor {_shown(vendor)} is not a vendor daemon name (letters, digits, _)",
        )
    if not _VERSION.fullmatch(version):
        raise _fail(
            logical, positional[2], f"version {_shown(version)} is not a version number such as 4.0"
        )
    try:
        expiry = parse_expiry(expiry_text)
    except ValueError as exc:
        raise _fail(logical, positional[3], f"expiry {exc}") from None
    try:
        count = _count(count_text, name)
    except ValueError as exc:
        raise _fail(logical, positional[4], str(exc)) from None
    return name, vendor, version, expiry, count


def _options(
    logical: _Logical, keys: dict[str, _Token], out: _Collector
) -> tuple[str | None, date | None, date | None]:
    """HOSTID=, START= and ISSUED= parsed; a key poolsync does not know is a warning."""
    hostid = None
    start = issued = None
    for key, token in keys.items():
        try:
            if key == "HOSTID":
                hostid = _hostid(token.text)
            elif key in ("START", "ISSUED"):
                day = parse_date(token.text)
                if key == "START":
                    start = day
                else:
                    issued = day
            elif key not in _IGNORED_KEYS:
                out.add(
                    logical.line_at(token.offset),
                    UNKNOWN_KEY,
                    f"{logical.column(token.offset)}: unknown key {key}= ignored",
                    "warning",
                )
        except ValueError as exc:
            raise _fail(logical, token, f"{key}= {exc}") from None
    return hostid, start, issued


def _feature(
    logical: _Logical, kind: Kind, tokens: list[_Token], state: _FileState, out: _Collector
) -> None:
    positional, keys = _words(logical, tokens)
    name, vendor, version, expiry, count = _fields(logical, kind, positional)
    hostid, start, issued = _options(logical, keys, out)
    if start is not None and expiry is not None and start > expiry:
        raise _fail(
            logical, keys["START"], "START= is after the expiry date: the line would never count"
        )
    state.features.append(
        (logical.line, kind, name, vendor, version, expiry, count, hostid, start, issued)
    )


def _server(logical: _Logical, tokens: list[_Token], state: _FileState) -> None:
    line = logical.line
    positional = [t for t in tokens[1:] if t.key is None]
    if len(positional) < 2:
        raise _LineError(
            line, SYNTAX, "SERVER needs a host name and a host ID (SERVER host 000BCD123456 [port])"
        )
    if state.server_line is not None:
        raise _LineError(
            line,
            SYNTAX,
            f"a second SERVER line (the first is line "
            f"{state.server_line}); a Unity license file is bound to one MAC",
        )
    token = positional[1]
    try:
        state.server_hostid = _hostid(token.text)
    except ValueError as exc:
        raise _LineError(
            logical.line_at(token.offset), SYNTAX, f"{logical.column(token.offset)}: host ID {exc}"
        ) from None
    state.server_line = line


def _line(logical: _Logical, state: _FileState, out: _Collector) -> None:
    if not _printable(logical, out):
        return
    tokens = _tokens(logical, out)
    if not tokens:
        return
    head = tokens[0]
    keyword = head.text.upper() if head.key is None else ""
    line = logical.line
    if keyword in ("FEATURE", "INCREMENT"):
        _feature(logical, "FEATURE" if keyword == "FEATURE" else "INCREMENT", tokens, state, out)
    elif keyword == "SERVER":
        _server(logical, tokens, state)
    elif keyword in ("VENDOR", "DAEMON"):
        if len(tokens) < 2 or tokens[1].key is not None:
            raise _LineError(line, SYNTAX, f"{keyword} needs a vendor daemon name")
    elif keyword == "USE_SERVER":
        if len(tokens) > 1:
            raise _LineError(line, SYNTAX, "USE_SERVER takes nothing after it")
    elif keyword in _UNSUPPORTED:
        raise _LineError(
            line,
            SYNTAX,
            f"{keyword} lines are not part of poolsync's license file model (docs/licenses.md)",
        )
    else:
        shown = head.text if head.key is None else f"{head.key}={head.text}"
        raise _LineError(
            line,
            SYNTAX,
            f"{_shown(shown)} does not start a license "
            f"file line (expected {', '.join(_KEYWORDS)} or a # comment)",
        )


# -- the file ---------------------------------------------------------------------------


def _binary(data: bytes, out: _Collector) -> bool:
    if data.startswith(_UTF16_BOMS):
        out.add(
            1,
            SYNTAX,
            "the file is UTF-16 text (it starts with a UTF-16 byte-order "
            "mark); save it as plain ASCII or UTF-8",
        )
        return True
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        out.add(
            line,
            SYNTAX,
            "a NUL byte: this is binary data, not a "
            "text license file (or UTF-16 without a byte-order mark)",
        )
        return True
    return False


def _bind(state: _FileState, out: _Collector) -> tuple[tuple[FeatureLine, ...], str | None]:
    """Give every feature line its host ID and check the file names only one."""
    features: list[FeatureLine] = []
    first: tuple[str, int] | None = None
    if state.server_hostid is not None and state.server_line is not None:
        first = (state.server_hostid, state.server_line)
    for line, kind, name, vendor, version, expiry, count, own, start, issued in state.features:
        hostid = own if own is not None else state.server_hostid
        if hostid is None:
            out.add(
                line,
                HOSTID_MISSING,
                "no HOSTID= and no SERVER line: the line is bound to no machine",
            )
            continue
        if first is None:
            first = (hostid, line)
        elif hostid != first[0]:
            out.add(
                line,
                SYNTAX,
                f"bound to host ID {hostid}, but line "
                f"{first[1]} to {first[0]}: a license file is bound to one MAC address",
            )
            continue
        features.append(
            FeatureLine(line, kind, name, vendor, version, expiry, count, hostid, start, issued)
        )
    return tuple(features), None if first is None else first[0]


def parse_license_file(data: bytes, *, path: str) -> LicenseFile:
    """Read a license file's bytes. Never raises: every flaw is a :class:`Problem`."""
    out = _Collector()
    features: tuple[FeatureLine, ...] = ()
    hostid = None
    try:
        if len(data) > MAX_FILE_BYTES:
            out.add(
                None,
                SYNTAX,
                f"the file is {len(data)} bytes, over the "
                f"{MAX_FILE_BYTES}-byte limit for a license file",
            )
        elif not _binary(data, out):
            state = _FileState()
            for logical in _logical_lines(data.removeprefix(_UTF8_BOM), out):
                if logical.broken:
                    continue
                try:
                    _line(logical, state, out)
                except _LineError as exc:
                    out.add(exc.line, exc.code, exc.message)
            features, hostid = _bind(state, out)
            if not features and not out.problems:
                out.add(
                    None, NO_FEATURES, "no FEATURE or INCREMENT line: the file licenses nothing"
                )
    except _TooMany:
        features, hostid = (), None
    out.finish()
    return LicenseFile(path=path, features=features, problems=tuple(out.problems), hostid=hostid)
