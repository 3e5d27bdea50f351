"""The HTTP source against hostile and broken servers, through httpx.MockTransport.

The real web server is in tests/integration/test_servers_http.py; here each handler is
a server that misbehaves in one way, and the test checks what was asked, what was read
(bodies are generators that count how far they were consumed) and the error.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from poolsync.attachment import MAX_ATTACHMENT_BYTES, format_attachment
from poolsync.secrets import SecretRef
from poolsync.servers.endpoints import HttpEndpoint, ServerEndpoints
from poolsync.servers.errors import (
    NotPublished,
    ServerAuthError,
    ServerDataError,
    ServerError,
    ServerNotFound,
    ServerTlsError,
    ServerUnavailable,
)
from poolsync.servers.http import HttpSource, describe_url, ssl_context, strip_leading_space
from poolsync.servers.source import NO_RETRIES, read_server
from tests.support.servers_contract import GOOD, clock

URL = "https://unity-a.example.com/avxml/effectivelicense.asp"
PAGE = format_attachment(GOOD).encode()
PASSWORD = "pw-Unity-8c1f"

Handler = Callable[[httpx.Request], httpx.Response]


def endpoint(
    url: str = URL,
    *,
    user: str | None = None,
    password: SecretRef | None = None,
    timeout: float = 5.0,
    validate: bool = True,
    ca_file: Path | None = None,
) -> HttpEndpoint:
    return HttpEndpoint(
        url=url, ca_file=ca_file, validate=validate, user=user, password=password, timeout=timeout
    )


def fetch(handler: Handler, http: HttpEndpoint | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
    source = HttpSource(transport=httpx.MockTransport(handler), **kwargs)  # type: ignore[arg-type]
    return source.fetch(ServerEndpoints(name="UNITY-A", http=http or endpoint(), snmp=None))


def page(body: bytes | Iterator[bytes], status: int = 200, **headers: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": "text/xml", **headers}, content=body)

    return handler


class Endless:
    """A body that never ends, counting the chunks taken from it."""

    def __init__(self, chunk: bytes = b" " * 65536, first: bytes = b"<AvXmlLicData>") -> None:
        self.chunk, self.first, self.taken = chunk, first, 0

    def __iter__(self) -> Iterator[bytes]:
        yield self.first
        while True:
            self.taken += 1
            yield self.chunk


@pytest.fixture
def secret(tmp_path: Path) -> SecretRef:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return SecretRef("file", str(path))


# --- what is read -----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [b"", b"\r\n", b"\n", b" \t\r\n ", b"\xef\xbb\xbf\r\n"])
def test_leading_whitespace_before_the_declaration_is_stripped(prefix: bytes) -> None:
    assert fetch(page(prefix + PAGE)) == GOOD


def test_strip_leading_space_keeps_the_byte_order_mark() -> None:
    assert strip_leading_space(b"\xef\xbb\xbf \n<x/>") == b"\xef\xbb\xbf<x/>"
    assert strip_leading_space(b"\r\n<x/>\n") == b"<x/>\n"


def test_the_request_asks_for_an_uncompressed_page_and_nothing_else() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=PAGE)

    fetch(handler)
    (request,) = seen
    assert request.method == "GET" and str(request.url) == URL
    assert request.headers["accept-encoding"] == "identity"
    assert "authorization" not in request.headers


def test_basic_auth_is_sent_with_the_resolved_password(secret: SecretRef) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=PAGE)

    fetch(handler, endpoint(user="poolsync", password=secret))
    assert seen[0].headers["authorization"] == httpx.BasicAuth("poolsync", PASSWORD)._auth_header


# --- hostile bodies ---------------------------------------------------------------------


def test_an_endless_body_is_cut_just_past_the_cap() -> None:
    body = Endless()
    with pytest.raises(ServerDataError, match="over the 1048576-byte limit; stopped reading"):
        fetch(page(iter(body)))
    assert body.taken <= MAX_ATTACHMENT_BYTES // 65536 + 1


def test_a_declared_length_over_the_cap_is_not_read_at_all() -> None:
    body = Endless()
    with pytest.raises(
        ServerDataError, match="is 1073741824 bytes, over the 1048576-byte limit; not read"
    ):
        fetch(page(iter(body), 200, **{"content-length": str(1 << 30)}))
    assert body.taken == 0


@pytest.mark.parametrize(
    ("declared", "words"),
    [("9" * 5000, "is over 10**18 bytes"), ("10000000000000000000", "is over 10**18 bytes")],
)
def test_an_absurd_declared_length_is_refused_too(declared: str, words: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-length": declared}, content=iter([b""]))

    with pytest.raises(ServerDataError, match=re.escape(words)):
        fetch(handler)


def test_a_redirect_to_an_invalid_url_is_a_data_error() -> None:
    with pytest.raises(ServerDataError, match="redirect to an invalid URL"):
        fetch(page(b"", status=302, location="http://[::1"))


def test_a_compressed_body_is_refused_unread() -> None:
    body = Endless()
    with pytest.raises(ServerDataError, match="came gzip-encoded although identity was asked"):
        fetch(page(iter(body), 200, **{"content-encoding": "gzip"}))
    assert body.taken == 0


def test_a_page_exactly_at_the_cap_is_parsed() -> None:
    padded = PAGE + b" " * (MAX_ATTACHMENT_BYTES - len(PAGE))
    assert fetch(page(padded)) == GOOD


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><AvXmlLicData/>', "DTDs are not allowed"),
        (
            b"<?xml version='1.0'?><!DOCTYPE AvXmlLicData SYSTEM 'http://evil/x.dtd'>"
            b"<AvXmlLicData><Licenses/></AvXmlLicData>",
            "DTDs are not allowed",
        ),
        (b"not xml at all", "not well-formed XML"),
        (b"", "attachment is empty"),
        (b"<html><body>login</body></html>", "root element is 'html'"),
        (b"<AvXmlLicData><Utilization/></AvXmlLicData>", "missing <Licenses> section"),
        (
            b"<AvXmlLicData><Licenses><LicSubscribersMax>-5</LicSubscribersMax></Licenses>"
            b"</AvXmlLicData>",
            "negative value",
        ),
    ],
)
def test_a_page_that_is_not_a_license_is_a_data_error(body: bytes, message: str) -> None:
    with pytest.raises(ServerDataError, match="not a usable AvXmlLicData page") as caught:
        fetch(page(body))
    assert message in str(caught.value)
    assert not isinstance(caught.value, NotPublished)


def test_the_content_type_is_named_when_it_is_not_xml() -> None:
    with pytest.raises(ServerDataError, match=r"\(Content-Type 'text/html; charset=utf-8'\)"):
        fetch(page(b"<html/>", 200, **{"content-type": "text/html; charset=utf-8"}))


# --- statuses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (401, ServerAuthError, "HTTP 401 Unauthorized: the page needs a user and password"),
        (403, ServerAuthError, "HTTP 403 Forbidden"),
        (404, NotPublished, "HTTP 404 Not Found: the server publishes no effective-license page"),
        (410, NotPublished, "HTTP 410 Gone"),
        (500, ServerDataError, "HTTP 500 Internal Server Error; expected 200"),
        (204, ServerDataError, "HTTP 204 No Content; expected 200"),
        (503, ServerUnavailable, "HTTP 503 Service Unavailable"),
        (502, ServerUnavailable, "HTTP 502 Bad Gateway"),
        (429, ServerUnavailable, "HTTP 429 Too Many Requests"),
    ],
)
def test_a_status_other_than_200_is_classified_and_its_page_not_read(
    status: int, error: type[ServerError], words: str
) -> None:
    body = Endless()
    with pytest.raises(error) as caught:
        fetch(page(iter(body), status=status))
    assert type(caught.value) is error and words in str(caught.value)
    assert body.taken == 0


def test_a_refused_password_names_the_user_not_the_password(secret: SecretRef) -> None:
    with pytest.raises(ServerAuthError, match="refused the user 'poolsync'") as caught:
        fetch(page(b"", status=401), endpoint(user="poolsync", password=secret))
    assert PASSWORD not in str(caught.value)


def test_the_servers_own_reason_phrase_is_not_quoted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, extensions={"reason_phrase": b"\x1b[2J owned"})

    with pytest.raises(ServerDataError) as caught:
        fetch(handler)
    assert "owned" not in str(caught.value) and "\x1b" not in str(caught.value)


# --- redirects --------------------------------------------------------------------------


def test_a_redirect_loop_ends_after_five_hops_without_reading_bodies() -> None:
    asked: list[str] = []
    bodies: list[Endless] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        bodies.append(Endless())
        return httpx.Response(302, headers={"location": "/again"}, content=iter(bodies[-1]))

    with pytest.raises(ServerDataError, match="more than 5 redirects"):
        fetch(handler)
    assert len(asked) == 6 and all(b.taken == 0 for b in bodies)


def test_credentials_go_to_the_configured_origin_only(secret: SecretRef) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/avxml/effectivelicense.asp":
            return httpx.Response(302, headers={"location": "/moved"})
        if request.url.path == "/moved":
            return httpx.Response(302, headers={"location": "https://elsewhere.example/p"})
        return httpx.Response(200, content=PAGE)

    assert fetch(handler, endpoint(user="poolsync", password=secret)) == GOOD
    assert ["authorization" in r.headers for r in seen] == [True, True, False]


def test_a_redirect_from_https_to_http_is_refused() -> None:
    handler = page(b"", status=301, location="http://unity-a.example.com/plain")
    with pytest.raises(ServerDataError, match="redirected from https to http://unity-a"):
        fetch(handler)


def test_a_password_echoed_by_the_server_is_scrubbed(secret: SecretRef) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            302, headers={"location": f"http://x/{PASSWORD}/{request.headers['authorization'][6:]}"}
        )

    with pytest.raises(ServerDataError) as caught:
        fetch(handler, endpoint(user="poolsync", password=secret))
    message = str(caught.value)
    assert PASSWORD not in message and "cG9vbHN5bmM6" not in message and "***" in message


# --- transport failures -----------------------------------------------------------------


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _with_context(exc: Exception, context: BaseException) -> Exception:
    exc.__context__ = context
    return exc


def _verify_error(message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = message
    error.reason = "CERTIFICATE_VERIFY_FAILED"
    return error


@pytest.mark.parametrize(
    ("exc", "error", "words"),
    [
        (
            httpx.ConnectTimeout("timed out"),
            ServerUnavailable,
            "no answer within 5 s (ConnectTimeout)",
        ),
        (httpx.ReadTimeout("timed out"), ServerUnavailable, "no answer within 5 s (ReadTimeout)"),
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            ServerUnavailable,
            "cannot connect ([Errno 111] Connection refused)",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected"),
            ServerUnavailable,
            "Server disconnected",
        ),
        (
            _with_context(httpx.ConnectError("x"), _verify_error("self-signed certificate")),
            ServerTlsError,
            "TLS failed (self-signed certificate); trust the CA",
        ),
        (
            _with_context(
                httpx.ConnectError("x"),
                _verify_error("Hostname mismatch, certificate is not valid for 'unity-a'."),
            ),
            ServerTlsError,
            "use a host name or address the server's certificate carries",
        ),
        (
            _with_context(httpx.ConnectError("x"), ssl.SSLError(1, "[SSL] wrong version number")),
            ServerTlsError,
            "does this port speak HTTPS",
        ),
        (
            _with_context(
                httpx.ConnectError("x"),
                __import__("socket").gaierror(-2, "Name or service not known"),
            ),
            ServerNotFound,
            "does not resolve",
        ),
    ],
)
def test_transport_failures_are_typed(exc: Exception, error: type[ServerError], words: str) -> None:
    with pytest.raises(error) as caught:
        fetch(raising(exc))
    assert type(caught.value) is error and words in str(caught.value)


def test_a_trickling_server_is_cut_at_the_deadline() -> None:
    ticks = iter(range(100))
    body = Endless(chunk=b" ")
    with pytest.raises(ServerUnavailable, match="did not arrive within 5 s"):
        fetch(page(iter(body)), endpoint(timeout=5), clock=lambda: float(next(ticks)))
    assert body.taken < 10


def test_a_reading_keeps_the_one_line_and_the_reachability() -> None:
    source = HttpSource(transport=httpx.MockTransport(raising(httpx.ConnectError("refused"))))
    reading = read_server(
        source, ServerEndpoints(name="A", http=endpoint(), snmp=None), now=clock, retries=NO_RETRIES
    )
    assert reading.reachable is False and reading.error == (
        "https://unity-a.example.com/avxml/effectivelicense.asp: cannot connect (refused)"
    )
    reading = read_server(
        HttpSource(transport=httpx.MockTransport(page(b"x", status=500))),
        ServerEndpoints(name="A", http=endpoint(), snmp=None),
        now=clock,
    )
    assert reading.reachable is True and "HTTP 500" in (reading.error or "")


def test_a_password_that_cannot_be_resolved_is_a_reading_not_a_crash() -> None:
    missing = SecretRef("env", "POOLSYNC_TEST_NO_SUCH_VARIABLE", origin="poolsync.yaml: x")
    source = HttpSource(transport=httpx.MockTransport(page(PAGE)))
    reading = read_server(
        source,
        ServerEndpoints(name="A", http=endpoint(user="u", password=missing), snmp=None),
        now=clock,
    )
    assert reading.reachable is False
    assert reading.error == (
        "poolsync.yaml: x: environment variable POOLSYNC_TEST_NO_SUCH_VARIABLE is not set"
    )


# --- URLs and TLS settings --------------------------------------------------------------


def test_messages_show_no_user_info_or_query() -> None:
    assert (
        describe_url("https://u:secret@host:8443/p/a.asp?token=secret#f")
        == "https://host:8443/p/a.asp"
    )
    assert describe_url("http://[::1]:80/x") == "http://[::1]:80/x"
    assert describe_url("http://host:99999999/") == "<unparsable URL>"


def test_tls_validates_by_default_and_only_when_asked(tmp_path: Path) -> None:
    context = ssl_context(endpoint())
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    off = ssl_context(endpoint(validate=False, ca_file=tmp_path / "ignored.pem"))
    assert off.verify_mode == ssl.CERT_NONE and not off.check_hostname
    with pytest.raises(ServerTlsError, match="cannot load ca_file"):
        ssl_context(endpoint(ca_file=tmp_path / "missing.pem"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ServerTlsError, match="cannot load ca_file"):
        ssl_context(endpoint(ca_file=garbage))


def test_a_url_that_is_not_http_is_an_error() -> None:
    with pytest.raises(ServerError, match="not an http:// or https:// URL"):
        HttpSource().fetch(ServerEndpoints(name="A", http=endpoint("ftp://x/y"), snmp=None))
