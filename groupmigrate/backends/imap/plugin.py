"""The IMAP backend as the core sees it: options, credentials, profiles and factories.

Credentials: ``basic`` (a password: LOGIN or SASL PLAIN), ``oauth2`` (an app's client
credentials: app-only bearer tokens from its token endpoint, scope
``https://outlook.office365.com/.default`` unless ``scope`` says otherwise) and ``token`` (an
embedder's token provider); tokens log in with XOAUTH2 or OAUTHBEARER.

Registered as ``imap`` in the ``groupmigrate.backends`` entry-point group. Importing this
module does not import IMAPClient; the factories do.
"""

from __future__ import annotations

from typing import Any

from groupmigrate.auth import Credentials
from groupmigrate.backends.imap.settings import ADMIN_LOGINS, AUTH_MECHANISMS, LOGIN_USERS, MAX_CONNECTIONS, TLS_MODES, is_loopback
from groupmigrate.backends.imap.profiles import PROFILES
from groupmigrate.errors import ConfigError
from groupmigrate.plugins import Backend, Option, Settings
from groupmigrate.protocols import Destination, Source

__all__ = ["BACKEND", "OPTIONS"]

OPTIONS = (
    Option("host", "string", "the IMAP server's host name or address", required=True),
    Option("port", "int", "its port (default 993 with tls = \"implicit\", else 143)", low=1, high=65535),
    Option("tls", "choice", "\"implicit\" (IMAPS), \"starttls\", or \"none\" (a server on this machine only)",
           default="implicit", choices=TLS_MODES),
    Option("verify_tls", "bool", "check the server's TLS certificate", default=True),
    Option("ca_file", "path", "PEM file of the CA certificates to trust (default: the system's)"),
    Option("auth_mechanism", "choice", "\"auto\", \"login\", \"plain\", \"xoauth2\" or \"oauthbearer\"",
           default="auto", choices=AUTH_MECHANISMS),
    Option("admin_login", "choice", "how [auth] (an admin) opens other users' mailboxes: \"plain-authzid\" (SASL "
           "PLAIN with an authorization id), \"master-separator\" (user*admin) or \"none\"",
           default="plain-authzid", choices=ADMIN_LOGINS),
    Option("master_separator", "string", "separator of master-user logins (Dovecot's auth_master_user_separator)", default="*"),
    Option("login_user", "choice", "the IMAP user name of a mailbox: its \"address\" or its \"local-part\"",
           default="address", choices=LOGIN_USERS),
    Option("max_connections", "int", "connections per mailbox at most (Dovecot allows 10 per user and address)",
           default=4, low=1, high=MAX_CONNECTIONS),
    Option("max_message_bytes", "int", "the largest message the server accepts, where known: larger ones are "
           "skipped with their reason", low=1, high=1 << 40),
    Option("connect_timeout", "int", "seconds to wait for the server to accept a connection", default=10, low=1, high=600),
    Option("read_timeout", "int", "seconds to wait for the answer to one command", default=60, low=1, high=3600),
)  # fmt: skip


def _prepare(options: dict[str, Any], profile: str, auth: Credentials | None) -> dict[str, Any]:
    if options["tls"] == "none" and not is_loopback(options["host"]):
        raise ConfigError("\"none\" sends passwords in clear text: it is accepted only for a server on this machine "
                          "(loopback); use \"implicit\" or \"starttls\"", key="tls")  # fmt: skip
    if options["admin_login"] == "plain-authzid" and options["auth_mechanism"] == "login":
        raise ConfigError("admin_login = \"plain-authzid\" needs AUTHENTICATE PLAIN, not LOGIN", key="auth_mechanism")
    if auth is not None and auth.kind in ("oauth2", "token") and options["auth_mechanism"] in ("login", "plain"):
        raise ConfigError("tokens go with \"xoauth2\", \"oauthbearer\" or \"auto\"", key="auth_mechanism")
    separator = options["master_separator"]
    if any(c.isspace() for c in separator):
        raise ConfigError("must not hold white space", key="master_separator")
    ca_file = options["ca_file"]
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"{ca_file} is not a file", key="ca_file")
    return dict(options)


def _arguments(settings: Settings) -> dict[str, Any]:
    values = {k: v for k, v in settings.options.items() if v is not None}
    return {"auth": settings.auth, "profile": settings.profile, **values}


def _source(settings: Settings) -> Source:
    from groupmigrate.backends.imap.source import IMAPSource

    return IMAPSource(**_arguments(settings))


def _destination(settings: Settings) -> Destination:
    from groupmigrate.backends.imap.destination import IMAPDestination

    return IMAPDestination(**_arguments(settings))


BACKEND = Backend(
    name="imap",
    summary="IMAP servers (Dovecot and any IMAP4rev1 server), mail only, through IMAPClient",
    options=OPTIONS,
    profiles=dict(PROFILES),
    default_profile="generic",
    credentials=("basic", "oauth2", "token"),
    source=_source,
    destination=_destination,
    prepare=_prepare,
)
