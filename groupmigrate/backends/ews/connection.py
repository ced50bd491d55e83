"""Connections to an EWS endpoint: exchangelib protocol, sessions, accounts and the retry boundary.

One :class:`Connection` exists per endpoint and set of credentials. It owns an exchangelib
protocol subclass (:class:`EWSProtocol`) whose sessions carry our auth object (Basic, sent
UTF-8 encoded as RFC 7617 says, or bearer), the ``User-Agent`` :data:`USER_AGENT`, our HTTP adapter (TLS verification as configured, per connection), the large-chunk
response hook, masking of credential headers for exchangelib's log and, for sources, a
write guard. All of it lives on these objects: exchangelib's own classes, caches and loggers
are left as shipped, so other users of exchangelib in the process see no change. Every call to the server goes through
:meth:`Connection.call`, the single place where foreign errors become groupmigrate errors
(one attempt per call: retries are the migrator's).
"""

from __future__ import annotations

import base64
import random
import threading
import zoneinfo
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import requests
import requests.adapters
import requests.auth
import exchangelib
from exchangelib import Account, Configuration
from exchangelib.credentials import DELEGATE, IMPERSONATION, BaseCredentials
from exchangelib.errors import SessionPoolMinSizeReached
from exchangelib.ewsdatetime import EWSTimeZone
from exchangelib.protocol import CachingProtocol, NoVerifyHTTPAdapter, Protocol
from exchangelib.transport import DEFAULT_HEADERS, NOAUTH
from exchangelib.version import Build, Version

from groupmigrate import __version__
from groupmigrate.auth import Auth, BasicAuth, OAuth2ClientCredentials, TokenProvider, redact_url
from groupmigrate.backends.ews import fixes
from groupmigrate.backends.ews.errors import Verdict, classify
from groupmigrate.backends.ews.mimewire import SplicedBody, read_big_answer
from groupmigrate.backends.ews.profiles import EWSProfile
from groupmigrate.backends.ews.retry import ResponsePolicy, Retrier
from groupmigrate.backends.ews.tokens import BearerAuth, ClientCredentialsTokens, ProviderTokens
from groupmigrate.errors import AuthenticationError, ConfigError, SourceIsReadOnly

__all__ = ["Connection", "EWSProtocol", "Settings", "USER_AGENT", "Utf8BasicAuth", "login_of"]

T = TypeVar("T")

#: The ``User-Agent`` of every request to an EWS server or a token endpoint: lets an Exchange
#: administrator recognise the tool in logs and in user-agent allow lists (``EwsAllowList``).
USER_AGENT = f"groupmigrate/{__version__} exchangelib/{exchangelib.__version__}"
_EXCHANGE_ONLINE_URL = "https://outlook.office365.com/EWS/Exchange.asmx"


@attrs.frozen
class Settings:
    """How to reach one endpoint. Built by :class:`~groupmigrate.backends.ews.EWSSource` and friends."""

    url: str | None = attrs.field(repr=lambda url: repr(None if url is None else redact_url(url)))
    auth: Auth
    profile: EWSProfile
    impersonation: bool = True
    verify_tls: bool = True
    max_connections: int = 4
    #: seconds to wait for an answer (the read timeout)
    timeout: float = 60
    connect_timeout: float = 10
    read_only: bool = False


class _ConnectionKey(BaseCredentials):  # type: ignore[misc]
    """Stands in for credentials in exchangelib's protocol cache: unique per connection, no secret."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"ConnectionKey({self.label!r})"

    __str__ = __repr__


def _operation(body: Any) -> str | None:
    """The EWS operation in a SOAP request body (the first element inside ``Body``)."""
    if isinstance(body, SplicedBody):
        body = body.prefix
    if not isinstance(body, (bytes, bytearray)):
        return None
    start = body.find(b"Body>")
    if start < 0:
        return None
    start = body.find(b"<", start)
    end = start + 1
    while end < len(body) and body[end : end + 1] not in (b" ", b">", b"/", b"\n", b"\t", b"\r"):
        end += 1
    return body[start + 1 : end].decode("ascii", "replace").rsplit(":", 1)[-1]


class _Session(fixes.MaskingSession):
    """A requests session that, on a source connection, refuses to POST anything but reads.

    Every request exchangelib sends for this connection passes here, whatever path it took
    through exchangelib (our services or its high-level API such as ``item.save()``), so a
    write never leaves a read-only connection. Credential headers are masked in the finished
    exchange (:class:`~.fixes.MaskingSession`).
    """

    refuses_writes = False
    connect_timeout: float = 10
    session_id = 0
    usage_count = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self.refuses_writes:
            operation = _operation(kwargs.get("data"))
            if operation is None or operation not in fixes.READ_OPERATIONS:
                raise SourceIsReadOnly(f"{operation or 'request'} refused: this connection is a migration source")
        if isinstance(kwargs.get("timeout"), (int, float)):
            # exchangelib passes one number; a connect timeout of its own keeps an unreachable
            # server from costing the whole read timeout
            kwargs["timeout"] = (self.connect_timeout, kwargs["timeout"])
        return super().request(method, url, *args, **kwargs)


class EWSProtocol(Protocol):  # type: ignore[misc]
    """exchangelib's Protocol with our sessions, timeout, TLS setting and no automatic pool shrinking."""

    RETRY_WAIT = 1

    def __init__(self, *args: Any, http_auth: requests.auth.AuthBase | None, settings: Settings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.TIMEOUT = settings.timeout
        self.refuses_writes = settings.read_only
        self._http_auth = http_auth
        self._verify_tls = settings.verify_tls
        self._connect_timeout = settings.connect_timeout

    def create_session(self) -> _Session:
        session = _Session()
        session.refuses_writes = self.refuses_writes
        session.connect_timeout = self._connect_timeout
        session.headers.update(DEFAULT_HEADERS)
        session.headers["User-Agent"] = USER_AGENT
        adapter_cls = requests.adapters.HTTPAdapter if self._verify_tls else NoVerifyHTTPAdapter
        # One TCP connection per session, no urllib3 retries: every call is one attempt.
        adapter = adapter_cls(pool_block=True, pool_connections=1, pool_maxsize=1, max_retries=0)
        session.mount(self.service_endpoint, adapter)
        session.auth = self._http_auth
        session.hooks["response"].append(fixes.large_chunk_hook)
        session.hooks["response"].append(read_big_answer)
        session.session_id = random.randint(10000, 99999)
        session.usage_count = 0
        return session

    def decrease_poolsize(self) -> None:
        # exchangelib shrinks the pool on every busy answer and never grows it back; we keep
        # the pool and leave the pace to the migrator's executor.
        raise SessionPoolMinSizeReached("pool size is managed by groupmigrate")

    def forget(self) -> None:
        """Close the sessions and drop this protocol from exchangelib's cache."""
        self.close()
        with CachingProtocol._protocol_cache_lock:
            CachingProtocol._protocol_cache.pop((self.service_endpoint, self.config.credentials), None)


class Utf8BasicAuth(requests.auth.AuthBase):
    """HTTP Basic authentication with ``user:password`` encoded as UTF-8 (RFC 7617 ``charset="UTF-8"``).

    requests' ``HTTPBasicAuth`` encodes Latin-1, so a password with any other character fails
    with a ``UnicodeEncodeError`` whose message quotes the character and its position. Here a
    password that cannot be encoded at all (lone surrogates, e.g. from undecodable
    environment bytes) is an :class:`~groupmigrate.errors.AuthenticationError` that shows
    nothing of it.
    """

    def __init__(self, credentials: BasicAuth) -> None:
        self._credentials = credentials
        self._header: str | None = None

    def __repr__(self) -> str:
        return f"Utf8BasicAuth(username={self._credentials.username!r})"

    def header(self) -> str:
        if self._header is None:
            creds = self._credentials
            try:
                raw = f"{creds.username}:{creds.password.reveal()}".encode("utf-8")
            except UnicodeError:
                raise AuthenticationError(
                    f"the user name or password of {creds.username.encode('ascii', 'replace').decode()!r} holds characters "
                    "that are not valid text and cannot be sent (the password is not shown)"
                ) from None
            self._header = "Basic " + base64.b64encode(raw).decode("ascii")
        return self._header

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header()
        return request


def login_of(auth: Auth) -> str:
    """How a login is named in messages: the user name, or the app's client id (never a secret)."""
    if isinstance(auth, BasicAuth):
        return auth.username
    if isinstance(auth, OAuth2ClientCredentials):
        return f"app {auth.client_id}"
    if isinstance(auth, TokenProvider):
        return "the token provider's token"
    return type(auth).__name__


class _Retrier(Retrier):
    """The retry boundary with the login named in authentication and access errors."""

    def __init__(self, *, server: str, login: str) -> None:
        super().__init__(server=server)
        self.login = login

    def run(self, fn: Callable[[], T], *, mailbox: str | None = None, idempotent: bool = True) -> T:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classify() re-raises what it does not know
            verdict: Verdict = classify(exc, server=self.server, mailbox=mailbox, login=self.login)
        raise self.outcome(verdict, idempotent=idempotent) from None


def _http_auth(auth: Auth, settings: Settings) -> requests.auth.AuthBase:
    if isinstance(auth, BasicAuth):
        return Utf8BasicAuth(auth)
    if isinstance(auth, OAuth2ClientCredentials):
        return BearerAuth(ClientCredentialsTokens(auth, verify_tls=settings.verify_tls, timeout=(settings.connect_timeout, settings.timeout)))
    if isinstance(auth, TokenProvider):
        return BearerAuth(ProviderTokens(auth))
    raise ConfigError(f"unsupported auth object {type(auth).__name__}", key="auth")


class Connection:
    """One endpoint with one set of credentials: the protocol, the error boundary, and accounts.

    Args:
        settings: the endpoint settings.
        auth: the credentials (the endpoint's, or per-user ones).
        url: the EWS URL (resolved by the caller when autodiscover was used).
    """

    def __init__(self, settings: Settings, auth: Auth, url: str) -> None:
        self.settings = settings
        self.url = url
        self.auth = auth
        self.policy = ResponsePolicy()
        profile = settings.profile
        version = None
        if profile.pinned_version and profile.pinned_build:
            version = Version(build=Build(*profile.pinned_build), api_version=profile.pinned_version)
        label = getattr(auth, "username", None) or getattr(auth, "client_id", None) or "token"
        config = Configuration(
            service_endpoint=url,
            credentials=_ConnectionKey(f"{label}@{redact_url(url)}"),
            auth_type=NOAUTH,
            version=version,
            retry_policy=self.policy,
            max_connections=max(1, settings.max_connections),
        )
        self.protocol: EWSProtocol = EWSProtocol(config=config, http_auth=_http_auth(auth, settings), settings=settings)
        self.retrier: Retrier = _Retrier(server=redact_url(url), login=login_of(auth))
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Connection(url={redact_url(self.url)!r}, profile={self.settings.profile.name!r})"

    def account(self, address: str, *, impersonation: bool) -> Account:
        """An exchangelib Account for ``address`` on this connection (no request is sent)."""
        with self._lock:
            # Account() looks its protocol up in exchangelib's cache by (endpoint, credentials),
            # where EWSProtocol put itself when created, so it gets ours.
            return Account(
                primary_smtp_address=address,
                access_type=IMPERSONATION if impersonation else DELEGATE,
                config=self.protocol.config,
                autodiscover=False,
                locale="en_US",
                default_timezone=EWSTimeZone.from_timezone(zoneinfo.ZoneInfo("UTC")),
            )

    def call(self, fn: Callable[[], T], *, mailbox: str | None = None, idempotent: bool = True) -> T:
        """Run ``fn`` (which talks to the server) once; map its errors on the way out (see :mod:`.retry`)."""
        return self.retrier.run(fn, mailbox=mailbox, idempotent=idempotent)

    def close(self) -> None:
        self.protocol.forget()


def autodiscover_url(settings: Settings, address: str, auth: Auth) -> str:
    """The EWS URL for ``address`` when the user gave none.

    Exchange Online with OAuth needs no lookup (one global endpoint); otherwise exchangelib's
    autodiscover is asked with Basic credentials.

    Raises:
        ConfigError: for profiles without autodiscover, or credentials it cannot use.
    """
    profile = settings.profile
    if not profile.autodiscover:
        raise ConfigError(f"the {profile.name} profile has no autodiscover; give the EWS URL", key="url")
    if profile.name == "exchange-online" and not isinstance(auth, BasicAuth):
        return _EXCHANGE_ONLINE_URL
    if not isinstance(auth, BasicAuth):
        raise ConfigError("autodiscover needs BasicAuth; give the EWS URL for token authentication", key="url")
    from exchangelib import Credentials

    try:
        discovery = _autodiscovery()(email=address, credentials=Credentials(auth.username, auth.password.reveal()))
        _, found = discovery.discover()
    except Exception as exc:  # noqa: BLE001 - mapped at the boundary
        raise classify(exc, server="autodiscover", mailbox=address, login=auth.username).error from None
    url = str(found.service_endpoint)
    # Do not leave a protocol holding the password in exchangelib's cache.
    found.close()
    with CachingProtocol._protocol_cache_lock:
        CachingProtocol._protocol_cache.pop((found.service_endpoint, found.config.credentials), None)
    return url



def _autodiscovery() -> Any:
    """exchangelib's Autodiscovery, its authenticated lookups made on :class:`~.fixes.MaskingSession` s.

    exchangelib would log the password's Basic header of each lookup; this subclass keeps the
    lookups' credential headers out of the log without changing exchangelib's own classes.
    """
    from exchangelib.autodiscover import Autodiscovery
    from exchangelib.autodiscover.cache import autodiscover_cache
    from exchangelib.autodiscover.protocol import AutodiscoverProtocol
    from exchangelib.errors import RedirectError, TransportError
    from exchangelib.util import CONNECTION_ERRORS

    class _MaskingAutodiscoverProtocol(AutodiscoverProtocol):  # type: ignore[misc]
        @classmethod
        def raw_session(cls, prefix: str, oauth2_client: Any = None, **kwargs: Any) -> requests.Session:
            if oauth2_client is not None:  # not used by our lookups (Basic credentials only)
                return super().raw_session(prefix, oauth2_client=oauth2_client, **kwargs)  # type: ignore[no-any-return]
            session = fixes.MaskingSession()
            session.headers.update(DEFAULT_HEADERS)
            session.headers["User-Agent"] = cls.USERAGENT
            session.mount(prefix, adapter=cls.get_adapter())
            return session

    class _Autodiscovery(Autodiscovery):  # type: ignore[misc]
        # exchangelib's _attempt_response, with the protocol class above.
        def _attempt_response(self, url: str) -> tuple[bool, Any]:
            self._urls_visited.append(url.lower())
            try:
                self._ensure_valid_hostname(url)
            except TransportError:
                return False, None
            protocol = _MaskingAutodiscoverProtocol(
                config=Configuration(service_endpoint=url, credentials=self.credentials, retry_policy=self.INITIAL_RETRY_POLICY)
            )
            try:
                user_response = protocol.get_user_settings(user=self.email)
            except RedirectError as e:
                if self._redirect_url_is_valid(url=e.url):
                    return self._attempt_response(url=e.url)
                return False, None
            except (TransportError, *CONNECTION_ERRORS):
                return False, None
            if not user_response.redirect_url:
                autodiscover_cache[self._cache_key] = protocol
            return True, user_response

    return _Autodiscovery
