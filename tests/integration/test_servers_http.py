"""The HTTP source against a real web server (lighttpd), good and hostile.

One lighttpd for the module, on a loopback address of its own, serving over HTTP and
HTTPS (a lab CA's certificate): the effective-license page with the line break a
classic ASP page writes first, behind basic auth; other pages that are not licenses
(HTML, a DTD with entities, megabytes, a stream without a length); and CGI scripts
that fail with 500, redirect in a loop or answer too slowly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolsync.attachment import MAX_ATTACHMENT_BYTES, format_attachment
from poolsync.secrets import SecretRef
from poolsync.servers.endpoints import HttpEndpoint, ServerEndpoints
from poolsync.servers.errors import (
    ServerAuthError,
    ServerDataError,
    ServerTlsError,
    ServerUnavailable,
)
from poolsync.servers.http import HttpSource
from poolsync.servers.source import NO_RETRIES, read_server
from tests.support.serverlab import Lighttpd, free_port, require_daemons
from tests.support.servers_contract import GOOD, OTHER, ContractLab, LicenseSourceContract, clock

pytestmark = pytest.mark.servers

PAGE = "/avxml/effectivelicense.asp"
PASSWORD = "web-Secret-7f3a"
WRONG = "web-Wrong-91c2"
BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE AvXmlLicData [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
    "<AvXmlLicData><Licenses><LicSubscribersMax>&b;</LicSubscribersMax>"
    "</Licenses></AvXmlLicData>\n"
)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lighttpd]:
    require_daemons()
    server = Lighttpd(tmp_path_factory.mktemp("lighttpd"))
    server.page(f"/auth{PAGE}", "\r\n" + format_attachment(GOOD))
    server.user("poolsync", PASSWORD)
    server.page(PAGE, "\r\n" + format_attachment(GOOD))
    server.page(f"/other{PAGE}", format_attachment(OTHER))
    server.page(f"/bad{PAGE}", '<?xml version="1.0"?>\n<html><body>Log in</body></html>\n')
    server.page("/login.html", "<html><body>Please log in</body></html>\n")
    server.page(f"/entities{PAGE}", BILLION_LAUGHS)
    server.page(f"/huge{PAGE}", b"<AvXmlLicData>" + b" " * (3 * MAX_ATTACHMENT_BYTES))
    server.cgi(
        "/fail.cgi",
        'printf "Status: 500 Internal Server Error\\r\\n'
        'Content-Type: text/html\\r\\n\\r\\n<html>ASP error</html>"\n',
    )
    server.cgi("/loop.cgi", 'printf "Status: 302 Found\\r\\nLocation: /loop.cgi\\r\\n\\r\\n"\n')
    server.cgi("/moved.cgi", f'printf "Status: 301 Moved\\r\\nLocation: {PAGE}\\r\\n\\r\\n"\n')
    server.cgi("/slow.cgi", 'sleep 2; printf "Content-Type: text/xml\\r\\n\\r\\n"\n')
    # No Content-Length: lighttpd sends it chunked, so only the streaming cap stops it.
    server.cgi(
        "/stream.cgi",
        'printf "Content-Type: text/xml\\r\\n\\r\\n<AvXmlLicData>"\n'
        "head -c 4000000 /dev/zero | tr '\\0' ' '\n",
    )
    server.start()
    yield server
    server.stop()


def secret_file(directory: Path, name: str, value: str) -> SecretRef:
    path = directory / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return SecretRef("file", str(path))


def endpoint(
    url: str,
    *,
    ca_file: Path | None = None,
    validate: bool = True,
    user: str | None = None,
    password: SecretRef | None = None,
    timeout: float = 3.0,
) -> HttpEndpoint:
    return HttpEndpoint(
        url=url, ca_file=ca_file, validate=validate, user=user, password=password, timeout=timeout
    )


def server(name: str, http: HttpEndpoint) -> ServerEndpoints:
    return ServerEndpoints(name=name, http=http, snmp=None)


class TestHttpContract(LicenseSourceContract):
    @pytest.fixture
    def lab(self, web: Lighttpd, tmp_path: Path) -> ContractLab:
        right = secret_file(tmp_path, "right", PASSWORD)
        wrong = secret_file(tmp_path, "wrong", WRONG)
        closed = free_port(web.address)
        return ContractLab(
            source=HttpSource(),
            servers={
                "good": server(
                    "UNITY-A",
                    endpoint(
                        web.url(f"/auth{PAGE}", https=True),
                        ca_file=web.ca_file,
                        user="poolsync",
                        password=right,
                    ),
                ),
                "other": server("UNITY-B", endpoint(web.url(f"/other{PAGE}"))),
                "unreachable": server("UNITY-C", endpoint(f"http://{web.address}:{closed}{PAGE}")),
                "refused": server(
                    "UNITY-D",
                    endpoint(
                        web.url(f"/auth{PAGE}", https=True),
                        ca_file=web.ca_file,
                        user="poolsync",
                        password=wrong,
                    ),
                ),
                "bad": server("UNITY-E", endpoint(web.url(f"/bad{PAGE}"))),
                "unpublished": server("UNITY-F", endpoint(web.url(f"/missing{PAGE}"))),
            },
            secrets=(PASSWORD, WRONG),
        )


def fetch_error(http: HttpEndpoint) -> str:
    reading = read_server(HttpSource(), server("UNITY-X", http), now=clock, retries=NO_RETRIES)
    assert reading.error is not None and "\n" not in reading.error
    return reading.error


def test_the_page_is_read_over_plain_http_with_its_leading_line_break(web: Lighttpd) -> None:
    data = HttpSource().fetch(server("A", endpoint(web.url(PAGE))))
    assert data == GOOD


def test_a_redirect_to_the_page_is_followed(web: Lighttpd) -> None:
    assert HttpSource().fetch(server("A", endpoint(web.url("/moved.cgi")))) == GOOD


def test_the_page_needs_auth_when_none_is_configured(web: Lighttpd) -> None:
    with pytest.raises(
        ServerAuthError, match=r"HTTP 401 Unauthorized: the page needs a user and password"
    ):
        HttpSource().fetch(server("A", endpoint(web.url(f"/auth{PAGE}"))))


def test_an_untrusted_certificate_is_a_tls_error(web: Lighttpd, tmp_path: Path) -> None:
    with pytest.raises(
        ServerTlsError,
        match=r"TLS failed \(unable to get local issuer "
        r"certificate\); trust the CA",
    ):
        HttpSource().fetch(server("A", endpoint(web.url(PAGE, https=True))))
    reading = read_server(HttpSource(), server("A", endpoint(web.url(PAGE, https=True))), now=clock)
    assert reading.reachable is False and "TLS failed" in (reading.error or "")


def test_https_to_a_plain_http_port_is_a_tls_error(web: Lighttpd) -> None:
    url = web.url(PAGE).replace("http://", "https://")
    with pytest.raises(ServerTlsError):
        HttpSource().fetch(server("A", endpoint(url, ca_file=web.ca_file)))


def test_validation_off_reads_without_the_ca(web: Lighttpd) -> None:
    data = HttpSource().fetch(server("A", endpoint(web.url(PAGE, https=True), validate=False)))
    assert data == GOOD


def test_a_missing_ca_file_is_a_tls_error(web: Lighttpd, tmp_path: Path) -> None:
    error = fetch_error(endpoint(web.url(PAGE, https=True), ca_file=tmp_path / "none.pem"))
    assert "cannot load ca_file" in error


def test_an_html_page_is_not_a_license(web: Lighttpd) -> None:
    error = fetch_error(endpoint(web.url("/login.html")))
    assert "not a usable AvXmlLicData page (Content-Type 'text/html')" in error


def test_entities_are_refused(web: Lighttpd) -> None:
    assert "DTDs are not allowed" in fetch_error(endpoint(web.url(f"/entities{PAGE}")))


def test_a_page_over_the_cap_is_not_read(web: Lighttpd) -> None:
    with pytest.raises(ServerDataError, match="over the 1048576-byte limit; not read"):
        HttpSource().fetch(server("A", endpoint(web.url(f"/huge{PAGE}"))))


def test_a_stream_over_the_cap_is_cut(web: Lighttpd) -> None:
    with pytest.raises(ServerDataError, match="over the 1048576-byte limit; stopped reading"):
        HttpSource().fetch(server("A", endpoint(web.url("/stream.cgi"))))


def test_a_server_error_is_a_data_error_without_its_page(web: Lighttpd) -> None:
    error = fetch_error(endpoint(web.url("/fail.cgi")))
    assert "HTTP 500 Internal Server Error" in error and "ASP error" not in error


def test_a_redirect_loop_ends(web: Lighttpd) -> None:
    assert "more than 5 redirects" in fetch_error(endpoint(web.url("/loop.cgi")))


def test_a_slow_server_times_out(web: Lighttpd) -> None:
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match=r"no answer within 0\.5 s"):
        HttpSource().fetch(server("A", endpoint(web.url("/slow.cgi"), timeout=0.5)))
    assert time.monotonic() - started < 1.5
