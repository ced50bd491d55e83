"""The request pipeline: faults, authentication, SOAP parsing and validation, dispatch, logging."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import NamedTuple, Optional, Union

import attrs
from lxml import etree

from groupmigrate.testing.ews.auth import Directory, Principal, TokenError
from groupmigrate.testing.ews.context import Context
from groupmigrate.testing.ews.knobs import Knobs, Profile
from groupmigrate.testing.ews.schema import load_schema, type_info, wsdl_operations
from groupmigrate.testing.ews.soap import (
    Envelope,
    ResponseError,
    SoapFault,
    error_message,
    bare_response_envelope,
    fault_envelope,
    parse_envelope,
    response_envelope,
    schema_fault,
)
from groupmigrate.testing.ews.store import MailboxStore, Store
from groupmigrate.testing.ews.xmlns import MNS, T, local, utcnow

__all__ = ["Service", "Operation", "Answer", "register", "OPERATIONS", "WRITE_OPERATIONS"]


class Operation(NamedTuple):
    """One EWS request: the mailbox acted on, the operation, whether it writes, when.

    ``answered`` is False for a request the server refused with a fault (schema error,
    impersonation denied, throttled ...): a refused write is still a write attempt.
    """

    mailbox: Optional[str]
    operation: str
    is_write: bool
    time: dt.datetime
    answered: bool = True


@attrs.define
class Answer:
    """What the HTTP layer sends: ``action`` is ``answer``, ``reset`` (drop the connection) or ``hang``."""

    status: int = 200
    headers: list[tuple[str, str]] = attrs.field(factory=list)
    body: bytes = b""
    action: str = "answer"


OpResult = Union[list[etree._Element], etree._Element]
OpFunc = Callable[[Context], OpResult]


@attrs.frozen
class OpSpec:
    func: OpFunc
    needs_mailbox: bool = True
    exchange_only: bool = False


#: operation name -> implementation, filled by the ops_* modules
OPERATIONS: dict[str, OpSpec] = {}

#: operations that change a mailbox
WRITE_OPERATIONS = frozenset(
    {
        "CreateItem",
        "UpdateItem",
        "DeleteItem",
        "MoveItem",
        "CopyItem",
        "SendItem",
        "CreateFolder",
        "UpdateFolder",
        "DeleteFolder",
        "MoveFolder",
        "CopyFolder",
        "EmptyFolder",
        "CreateAttachment",
        "DeleteAttachment",
        "MarkAllItemsAsRead",
        "MarkAsJunk",
        "UploadItems",
        "ArchiveItem",
        "CreateUserConfiguration",
        "UpdateUserConfiguration",
        "DeleteUserConfiguration",
        "CreateManagedFolder",
        "UpdateInboxRules",
        "SetUserOofSettings",
    }
)


def register(name: str, needs_mailbox: bool = True, exchange_only: bool = False) -> Callable[[OpFunc], OpFunc]:
    """Decorator registering an operation implementation."""

    def deco(func: OpFunc) -> OpFunc:
        OPERATIONS[name] = OpSpec(func, needs_mailbox, exchange_only)
        return func

    return deco


_HTML_LOGIN = (
    b"<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"
    b"<form method='post' action='/owa/auth.owa'><input name='username'/><input name='password' type='password'/>"
    b"<input type='submit' value='Sign in'/></form></body></html>"
)
_BROKEN_XML = (
    b'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<s:Body><m:FindItemResponse><m:ResponseMessages><m:FindItemResponseMessage Response"
)
_GATEWAY_ERROR = b"<html><head><title>%s Gateway Error</title></head><body><h1>Gateway Error</h1></body></html>"
_ASPNET_500 = (
    b"<html><head><title>Runtime Error</title></head><body><h1>Server Error in '/EWS' Application.</h1>"
    b"<h2><i>Runtime Error</i></h2></body></html>"
)


class Service:
    """Answers HTTP requests for one server: EWS on ``/EWS/Exchange.asmx``, tokens on ``/{tenant}/oauth2/v2.0/token``."""

    def __init__(self, profile: Profile, knobs: Knobs, store: Store, directory: Directory) -> None:
        from groupmigrate.testing.ews import ops  # noqa: F401  (registers the operations)

        self.profile = profile
        self.knobs = knobs
        self.store = store
        self.directory = directory
        self.schema = load_schema(profile.extra_distinguished)
        # loaded here, before the first request, not by concurrent first requests (libxml2
        # parses unreliably while other threads compile schemas)
        wsdl_operations()
        type_info()
        self.operations: list[Operation] = []
        self._log_lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self._inflight_lock = threading.Lock()
        # requests worked on at the same time: per acting mailbox, per caller ("caller:<name>")
        # and in all (""); the most seen of each since start or reset_peaks()
        self._concurrent: dict[str, int] = {}
        self.peaks: dict[str, int] = {}
        self.stopping = threading.Event()

    # -- HTTP entry ----------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        route = urllib.parse.urlsplit(path).path
        if route.lower().rstrip("/").endswith("/oauth2/v2.0/token"):
            return self._token(method, route, headers, body)
        if route.lower() not in ("/ews/exchange.asmx",):
            return Answer(404, [("Content-Type", "text/html")], b"<html><body>404 Not Found</body></html>")
        if method != "POST":
            return Answer(405, [("Allow", "POST"), ("Content-Type", "text/html")], b"")
        return self._ews(headers, body)

    def _token(self, method: str, route: str, headers: dict[str, str], body: bytes) -> Answer:
        if method != "POST":
            return Answer(405, [("Allow", "POST")], b"")
        tenant = route.strip("/").split("/")[0]
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        scheme, _, cred = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":  # client_secret_basic: the client authenticates in the header
            try:
                client_id, _, secret = base64.b64decode(cred.strip()).decode("utf-8").partition(":")
                form.setdefault("client_id", urllib.parse.unquote_plus(client_id))
                form.setdefault("client_secret", urllib.parse.unquote_plus(secret))
            except (ValueError, UnicodeDecodeError):
                pass
        try:
            answer = self.directory.issue_token(tenant, form, self.knobs.token_lifetime)
            status = 200
        except TokenError as exc:
            answer = {"error": exc.error, "error_description": exc.description, "error_codes": []}
            status = exc.status
        return Answer(status, [("Content-Type", "application/json; charset=utf-8")], json.dumps(answer).encode())

    # -- EWS ------------------------------------------------------------------------------
    def _ews(self, headers: dict[str, str], body: bytes) -> Answer:
        knobs = self.knobs
        if knobs.hang:
            return Answer(action="hang")
        if knobs.roll(knobs.reset_rate):
            return Answer(action="reset")
        if knobs.roll(knobs.http503_rate):
            hdrs = [("Content-Type", "text/html")]
            if knobs.retry_after:
                hdrs.append(("Retry-After", str(knobs.retry_after)))
            return Answer(503, hdrs, b"<html><body>Service Unavailable</body></html>")
        if knobs.roll(knobs.http500_rate):
            return Answer(500, [("Content-Type", "text/html; charset=utf-8")], _ASPNET_500)
        principal = self._authenticate(headers)
        if principal is None:
            return self._unauthorized(headers)
        if knobs.answer_html:
            return Answer(200, [("Content-Type", "text/html; charset=utf-8")], _HTML_LOGIN)
        if knobs.answer_invalid_xml:
            return Answer(200, [("Content-Type", "text/xml; charset=utf-8")], _BROKEN_XML)
        try:
            return self._soap(principal, body)
        except SoapFault as fault:
            return self._fault(fault)

    def _authenticate(self, headers: dict[str, str]) -> Optional[Principal]:
        value = headers.get("authorization", "")
        scheme, _, cred = value.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and self.knobs.basic_auth:
            try:
                user, _, password = base64.b64decode(cred.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            with self.store.lock:
                return self.directory.check_basic(user, password)
        if scheme == "bearer":
            with self.store.lock:
                return self.directory.check_token(cred.strip())
        return None

    def _unauthorized(self, headers: dict[str, str]) -> Answer:
        hdrs = [("Content-Type", "text/html")]
        value = headers.get("authorization", "")
        if value.lower().startswith("bearer"):
            hdrs.append(
                ("WWW-Authenticate", 'Bearer error="invalid_token", error_description="The access token is invalid or expired"')
            )
        else:
            hdrs.append(("WWW-Authenticate", 'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'))
            if self.knobs.basic_auth:
                hdrs.append(("WWW-Authenticate", 'Basic realm="127.0.0.1"'))
        hdrs.append(("X-ErrorCode", "401"))
        return Answer(401, hdrs, b"")

    def _fault(self, fault: SoapFault) -> Answer:
        return Answer(500, [("Content-Type", "text/xml; charset=utf-8")], fault_envelope(fault))

    def _validate(self, env: Envelope) -> None:
        for name, header in env.headers.items():
            if name in ("RequestServerVersion", "ExchangeImpersonation", "TimeZoneContext", "MailboxCulture",
                        "DateTimePrecision", "ManagementRole"):
                problem = self.schema.validate(header)
                if problem:
                    line, col, msg = problem
                    raise schema_fault((header.sourceline or 1) + max(line - 1, 0), col, msg)
        op = env.operation
        if op.tag.startswith(f"{{{MNS}}}"):
            problem = self.schema.validate(op)
            if problem:
                line, col, msg = problem
                raise schema_fault((op.sourceline or 1) + max(line - 1, 0), col, msg)

    def _soap(self, principal: Principal, body: bytes) -> Answer:
        env = parse_envelope(body)
        name = env.name
        if not env.operation.tag.startswith(f"{{{MNS}}}") or name not in wsdl_operations():
            raise SoapFault("ErrorInvalidRequest", "The request is invalid.")
        try:
            return self._dispatch(principal, env, name)
        except SoapFault:
            self._log(_requested_mailbox(principal, env), name, answered=False)
            raise

    def _dispatch(self, principal: Principal, env: Envelope, name: str) -> Answer:
        # The version header is read before the body is validated, as Exchange does: an unknown or
        # unsupported value is ErrorInvalidServerVersion, which is what clients probing versions expect.
        version_el = env.header("RequestServerVersion")
        version = version_el.get("Version", "Exchange2007_SP1") if version_el is not None else "Exchange2007_SP1"
        if version not in self.profile.accepted_versions:
            raise SoapFault("ErrorInvalidServerVersion", "The specified server version is invalid.")
        self._validate(env)
        spec = OPERATIONS.get(name)
        if spec is None or (spec.exchange_only and not self.profile.export_upload):
            raise SoapFault("ErrorInvalidRequest", "The request is invalid.")
        acting, impersonating = self._acting_mailbox(principal, env)
        key = acting.address if acting is not None else principal.name
        self._enter(key, principal.name)
        try:
            if self.knobs.latency > 0:
                time.sleep(self.knobs.latency)
            if self.knobs.roll(self.knobs.throttle_rate):
                raise self._busy()
            ctx = Context(self, principal, env, version, acting, impersonating)
            if spec.needs_mailbox:
                ctx.mailbox()
            with self.store.lock:
                try:
                    result = spec.func(ctx)
                except ResponseError as err:  # an operation-wide error: one error message
                    result = [error_message(name, err)]
                finally:
                    self.store.commit()
                self._log(acting.address if acting else None, name)
            if name in WRITE_OPERATIONS and self.knobs.lose_answer():
                # carried out, but the answer never reaches the client
                status = self.knobs.lost_answer_status
                if status is None:
                    return Answer(action="reset")
                return Answer(status, [("Content-Type", "text/html")], _GATEWAY_ERROR % str(status).encode())
            if isinstance(result, list):
                payload = response_envelope(name, result, self.profile.version_info)
            else:
                payload = bare_response_envelope(result, self.profile.version_info)
            return Answer(200, [("Content-Type", "text/xml; charset=utf-8")], payload)
        finally:
            self._leave(key, principal.name)

    def _busy(self) -> SoapFault:
        value = etree.Element(T("Value"), Name="BackOffMilliseconds")
        value.text = str(self.knobs.backoff_ms)
        return SoapFault(
            "ErrorServerBusy", "The server cannot service this request right now. Try again later.", [value]
        )

    def _enter(self, key: str, caller: str) -> None:
        limit = self.knobs.max_concurrency
        with self._inflight_lock:
            count = self._inflight.get(key, 0) + 1
            if limit is not None and count > limit:
                busy = True
            else:
                busy = False
                self._inflight[key] = count
                for scope in (key, f"caller:{caller}", ""):
                    now = self._concurrent[scope] = self._concurrent.get(scope, 0) + 1
                    if now > self.peaks.get(scope, 0):
                        self.peaks[scope] = now
        if busy:
            raise self._busy()

    def _leave(self, key: str, caller: str) -> None:
        with self._inflight_lock:
            self._inflight[key] = self._inflight.get(key, 1) - 1
            for scope in (key, f"caller:{caller}", ""):
                self._concurrent[scope] = self._concurrent.get(scope, 1) - 1

    def peak(self, scope: str) -> int:
        with self._inflight_lock:
            return self.peaks.get(scope, 0)

    def reset_peaks(self) -> None:
        with self._inflight_lock:
            self.peaks = {scope: n for scope, n in self._concurrent.items() if n > 0}

    def _acting_mailbox(self, principal: Principal, env: Envelope) -> tuple[Optional[MailboxStore], bool]:
        imp = env.header("ExchangeImpersonation")
        with self.store.lock:
            if imp is not None:
                address = None
                sid = imp.find(T("ConnectingSID"))
                if sid is not None:
                    for child in sid:
                        if local(child.tag) in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName") and child.text:
                            address = child.text.strip()
                mb = self.store.mailbox(address) if address else None
                if mb is None:
                    raise SoapFault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
                if principal.kind == "user" and principal.address == mb.address:
                    return mb, False
                if not self.directory.may_impersonate(principal, mb.address):
                    raise SoapFault(
                        "ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user."
                    )
                return mb, True
            if principal.is_app:
                return None, False
            return self.store.mailbox(principal.address), False

    def _log(self, mailbox: Optional[str], name: str, answered: bool = True) -> None:
        with self._log_lock:
            self.operations.append(Operation(mailbox, name, name in WRITE_OPERATIONS, utcnow(), answered))


def _requested_mailbox(principal: Principal, env: Envelope) -> Optional[str]:
    """The mailbox a request names (impersonated, else the caller's own), without checking rights."""
    imp = env.header("ExchangeImpersonation")
    if imp is not None:
        for el in imp.iter():
            if local(el.tag) in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName") and el.text:
                return str(el.text).strip().lower()
    return None if principal.is_app else str(principal.address)
