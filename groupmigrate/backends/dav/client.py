"""HTTP to a CalDAV/CardDAV server: one ``requests`` session per mailbox, one attempt per request.

We deliberately speak WebDAV ourselves (``requests`` + ``lxml``) instead of using the
``caldav`` package: it has no CardDAV, and it repeats requests and follows redirects on
its own, while in groupmigrate one executor owns every retry (a write repeated behind its
back could create an item twice). So here:

- the connection pool is bounded (``max_connections``) and the transport never retries
  (``max_retries=0``) nor follows a redirect by itself;
- each failure is classified once (:mod:`groupmigrate.backends.dav.errors`): a write whose
  request may have reached the server and got no usable answer raises
  :class:`~groupmigrate.errors.OutcomeUnknown`, never a plain connection error;
- the only request made twice is one the server refused with 401 while a bearer token was
  used: the token is dropped, a fresh one asked for, and the request sent once more (a 401
  is certain not to have applied anything);
- a source's client (``read_only``) refuses every method that could change the server.

Credentials: Basic (user name and password, UTF-8 as RFC 7617 says) or a bearer token from
:mod:`groupmigrate.oauth`. They travel only to the server's own origin (a redirect elsewhere
is followed without them), and never appear in a message, a log line or a repr.
"""

from __future__ import annotations

import base64
import logging
import ssl
import threading
import time
import urllib.parse

import requests
import requests.adapters
import requests.exceptions
import urllib3.exceptions

from groupmigrate.auth import BasicAuth, Credentials, OAuth2ClientCredentials, TokenProvider
from groupmigrate.backends.dav.errors import DavRefused, mask, parse_retry_after, where
from groupmigrate.backends.dav.settings import is_loopback
from groupmigrate.backends.dav.webdav import error_condition
from groupmigrate.errors import (
    AccessDenied,
    AuthenticationError,
    ConfigError,
    ConnectionFailed,
    GroupmigrateError,
    OutcomeUnknown,
    SourceIsReadOnly,
    Throttled,
)
from groupmigrate.oauth import USER_AGENT, TokenSource

__all__ = ["READ_METHODS", "DavClient", "login_name"]

log = logging.getLogger("groupmigrate.dav")

#: methods that change nothing on the server (all a source may send)
READ_METHODS = frozenset({"PROPFIND", "REPORT", "GET", "HEAD", "OPTIONS"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_NOT_SENT = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.NameResolutionError,
    requests.exceptions.ConnectTimeout,
    ConnectionRefusedError,
)


def login_name(credentials: Credentials | None) -> str:
    """Who logs in, as messages name it (never a secret)."""
    if isinstance(credentials, BasicAuth):
        return f"user {credentials.username!r}"
    if isinstance(credentials, OAuth2ClientCredentials):
        return f"app {credentials.client_id!r}"
    if isinstance(credentials, TokenProvider):
        return "the token provider's bearer token"
    return "anonymous"


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in out):
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


class DavClient:
    """The HTTP session of one mailbox.

    Args:
        url: the server's base URL (requests for other origins carry no credentials).
        credentials: :class:`~groupmigrate.auth.BasicAuth`, or bearer-token credentials with
            their ``tokens``.
        mailbox: the mailbox the session works for (messages name it).
        verify_tls, ca_file: certificate checking (``ca_file``: PEM file of the CAs to trust).
        connect_timeout, read_timeout: seconds.
        max_connections: concurrent requests (and pooled connections) at most.
        read_only: refuse every method outside :data:`READ_METHODS`.
    """

    def __init__(
        self,
        url: str,
        credentials: Credentials | None,
        *,
        mailbox: str,
        tokens: TokenSource | None = None,
        verify_tls: bool = True,
        ca_file: str | None = None,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        max_connections: int = 4,
        read_only: bool = False,
    ) -> None:
        self.base_url = url
        self.server = where(url)
        self.mailbox = mailbox
        self.read_only = read_only
        self.who = login_name(credentials)
        self._credentials = credentials
        self._tokens = tokens
        self._timeout = (float(connect_timeout), float(read_timeout))
        self._verify: bool | str = ca_file if (ca_file and verify_tls) else verify_tls
        self._slots = threading.BoundedSemaphore(max_connections)
        session = requests.Session()
        session.trust_env = False  # no .netrc credentials, no CA bundle from the environment
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=max_connections, max_retries=0, pool_block=True)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        self._session = session

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"DavClient({self.server}, {self.who}, mailbox={self.mailbox!r}, {mode})"

    def close(self) -> None:
        self._session.close()

    # -- the one way out ------------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        depth: str | None = None,
        follow: bool = False,
    ) -> requests.Response:
        """Send one request and return its answer, whatever its status, except for what no
        caller can act on: 401 (:class:`AuthenticationError`), 429 and 503 with Retry-After
        (:class:`Throttled`), and transport failures (see the module docstring).

        ``follow`` follows redirects (reads only), sending credentials to the same origin only.
        """
        if self.read_only and method not in READ_METHODS:
            raise SourceIsReadOnly(f"{method} {where(url)}: refused, the connection to {self.server} is a migration source")
        write = method not in READ_METHODS
        all_headers = dict(headers or {})
        if body is not None and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = "application/xml; charset=utf-8"
        if depth is not None:
            all_headers["Depth"] = depth
        target = url
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._authorized(method, target, body, all_headers, write)
            if not (follow and not write and response.status_code in _REDIRECTS and response.headers.get("Location")):
                return response
            nxt = urllib.parse.urljoin(target, response.headers["Location"])
            if urllib.parse.urlsplit(target).scheme == "https" and urllib.parse.urlsplit(nxt).scheme != "https":
                raise ConfigError(f"{where(target)} redirects to {where(nxt)}, which is not https: refused", key="url")
            log.debug("%s %s: redirected to %s", method, where(target), where(nxt))
            target = nxt
        raise ConnectionFailed(f"{method} {where(url)}: more than {_MAX_REDIRECTS} redirects")

    def _authorized(self, method: str, url: str, body: bytes | None, headers: dict[str, str], write: bool) -> requests.Response:
        same_origin = _origin(url) == _origin(self.base_url)
        for renew in (True, False):
            token = None
            sent = dict(headers)
            if same_origin:
                token = self._authorize(sent)
            response = self._send(method, url, body, sent, write)
            if response.status_code != 401:
                return response
            if token is not None and self._tokens is not None:
                self._tokens.invalidate(token)  # expired or revoked: ask for a fresh one, once
                if renew:
                    continue
            break
        opening = f" (opening {self.mailbox})"
        raise AuthenticationError(f"{self.server} rejected the credentials of {self.who}{opening} (wrong password, bad or expired token)")

    def _authorize(self, headers: dict[str, str]) -> str | None:
        creds = self._credentials
        if isinstance(creds, BasicAuth):
            raw = f"{creds.username}:{creds.password.reveal()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
            return None
        if self._tokens is not None:
            token = self._tokens.token()
            headers["Authorization"] = f"Bearer {token}"
            return token
        return None

    def _proxies(self, url: str) -> dict[str, str]:
        host = urllib.parse.urlsplit(url).hostname or ""
        if is_loopback(host):
            return {}
        return dict(requests.utils.get_environ_proxies(url))

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str], write: bool) -> requests.Response:
        started = time.monotonic()
        try:
            with self._slots:
                response = self._session.request(
                    method, url, data=body, headers=headers, timeout=self._timeout, verify=self._verify,
                    allow_redirects=False, proxies=self._proxies(url),
                )  # fmt: skip
                response.content  # read the whole answer while holding the slot
        except GroupmigrateError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to the error tree right here
            raise self._failure(exc, method, url, write) from None
        log.debug("%s %s -> %d (%.0f ms)", method, where(url), response.status_code, (time.monotonic() - started) * 1000)
        code = response.status_code
        if code == 429 or (code == 503 and response.headers.get("Retry-After")):
            wait = parse_retry_after(response.headers.get("Retry-After"))
            raise Throttled(f"{method} {where(url)}: {self.server} answered {code} {response.reason}", retry_after=wait)
        return response

    def _failure(self, exc: BaseException, method: str, url: str, write: bool) -> GroupmigrateError:
        chain = _chain(exc)
        target = f"{method} {where(url)}"
        if any(isinstance(e, (requests.exceptions.InvalidHeader, UnicodeError)) for e in chain):
            return AuthenticationError(
                f"the credentials of {self.who} for {self.server} cannot be sent: they hold a line break or a "
                "character an HTTP header cannot carry (the credential is not shown)"
            )
        verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
        if verify is not None:
            reason = verify.verify_message or verify.reason or "not trusted"
            return ConfigError(
                f"TLS: the certificate of {self.server} could not be verified ({reason}); give the certificate of "
                "the CA that issued it with ca_file (or, for a test server only, verify_tls = false)",
                key="ca_file",
            )
        if isinstance(exc, OSError) and not isinstance(exc, requests.exceptions.RequestException) and "certificate" in str(exc):
            return ConfigError(f"cannot use the CA file ({exc})", key="ca_file")  # requests could not load it
        if any(isinstance(e, (requests.exceptions.SSLError, ssl.SSLError)) for e in chain):
            return ConnectionFailed(f"{target}: the TLS handshake with {self.server} failed")
        if any(isinstance(e, _NOT_SENT) for e in chain):
            return ConnectionFailed(f"{target}: {self.server} is unreachable (nothing was sent)")
        timed_out = any(isinstance(e, (requests.exceptions.Timeout, TimeoutError)) for e in chain)
        what = "did not answer in time" if timed_out else "dropped the connection"
        if write:
            return OutcomeUnknown(f"{target}: sent, but {self.server} {what}; it may have been applied")
        return ConnectionFailed(f"{target}: {self.server} {what}")

    # -- statuses the callers did not handle --------------------------------------------------------
    def refusal(self, response: requests.Response, method: str) -> GroupmigrateError:
        """The error for an answer its caller does not expect (see :mod:`.errors`)."""
        code = response.status_code
        url = (response.request.url if response.request is not None else None) or response.url
        write = method not in READ_METHODS
        condition = error_condition(response.content) if response.content else None
        content_type = response.headers.get("Content-Type", "").lower()
        if code == 403 and condition in (None, "need-privileges"):
            return AccessDenied(f"{self.server}: {self.who} may not {method} {where(url)} (opening {self.mailbox})")
        if code >= 500 and code != 507:
            if write and (code in (502, 503, 504) or (code == 500 and condition is None)):
                gateway = " (an HTML page: a proxy or gateway answered)" if "html" in content_type else ""
                return OutcomeUnknown(f"{method} {where(url)}: {self.server} answered {code} {response.reason}{gateway}; "
                                      "it may have been applied")  # fmt: skip
            if not write:
                return ConnectionFailed(f"{method} {where(url)}: {self.server} answered {code} {response.reason}")
        text = ""
        if condition is None and response.content and "xml" not in content_type and "html" not in content_type:
            text = mask(response.content[:200].decode("utf-8", "replace").strip().splitlines()[0] if response.content.strip() else "")
        return DavRefused(method, url, code, response.reason or "", condition, text)

    # -- shorthands ---------------------------------------------------------------------------------
    def expect(self, response: requests.Response, method: str, *ok: int) -> requests.Response:
        if response.status_code in ok or (not ok and 200 <= response.status_code < 300):
            return response
        raise self.refusal(response, method)

    def xml(self, method: str, url: str, body: bytes, depth: str | None, *, follow: bool = False) -> requests.Response:
        """A PROPFIND or REPORT whose answer must be a 207 multistatus."""
        return self.expect(self.request(method, url, body=body, depth=depth, follow=follow), method, 207)

    def url(self, href: str) -> str:
        """An absolute URL for an href of this server."""
        return urllib.parse.urljoin(self.base_url, href)

