"""Sync states of DAV folders: what changed in a collection since the last look.

Two kinds of state, both small texts:

- ``dav-token:1:<token>``: the collection's sync token (RFC 6578); a sync-collection REPORT
  with it lists the members changed or removed since. A token the server no longer accepts
  (``DAV:valid-sync-token``) is replaced by a full listing with a fresh token.
- ``dav-etag:1:<data>``: for a collection without sync tokens (or with ``sync = "etag"``):
  the collection's CTag and, per resource name, a short hash of its ETag, compressed. The
  next look lists the folder and compares; an unchanged CTag spares the listing.

Both report new and changed resources as refs, and removed ones in ``deleted``. For a folder
that shares its collection with others (one component of a calendar holding several), the
changed resources are narrowed to the folder's own; removed ones cannot be told apart and are
all reported.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import zlib

from groupmigrate.backends.dav.client import DavClient
from groupmigrate.backends.dav.errors import DavRefused, SyncStateUnusable, where
from groupmigrate.backends.dav.folders import KIND_OF, Place
from groupmigrate.backends.dav.listing import LIST_PROPS, Member, member_of, members, name_of
from groupmigrate.backends.dav.webdav import CS, DAV, parse_multistatus, propfind_body, qname, sync_collection_body
from groupmigrate.errors import ConnectionFailed
from groupmigrate.items import ItemRef
from groupmigrate.protocols import SyncResult

__all__ = ["ETAG_STATE", "TOKEN_STATE", "refs_of", "sync_folder"]

log = logging.getLogger("groupmigrate.dav")

TOKEN_STATE = "dav-token:1:"
ETAG_STATE = "dav-etag:1:"
#: sync-collection rounds at most when the server truncates its answers (RFC 6578 3.6)
_MAX_ROUNDS = 1000


def refs_of(place: Place, found: list[Member]) -> tuple[ItemRef, ...]:
    """Refs of listed resources, in href order, typed by the component each names (else the folder's)."""
    kind = place.folder.kind
    return tuple(
        ItemRef(m.href, m.planned_size, m.changed, KIND_OF.get(m.component or "", kind) if not place.collection.addressbook else kind)
        for m in sorted(found, key=lambda m: m.href)
    )


def _current(client: DavClient, place: Place) -> tuple[str | None, str | None]:
    """The collection's sync token and CTag now."""
    url = client.url(place.collection.href)
    answer = client.xml("PROPFIND", url, propfind_body(("d:sync-token", "cs:getctag")), "0")
    try:
        responses, _ = parse_multistatus(answer.content)
    except ValueError as exc:
        raise ConnectionFailed(f"PROPFIND {where(url)}: not WebDAV XML ({exc})") from None
    for response in responses:
        return response.text(qname(DAV, "sync-token")), response.text(qname(CS, "getctag"))
    return None, None


def sync_folder(client: DavClient, place: Place, state: str | None, method: str) -> SyncResult:
    """What changed in ``place`` since ``state`` (everything when None); see the module docstring.

    Raises:
        SyncStateUnusable: ``state`` is not a DAV sync state of this backend.
    """
    if state is not None and not state.startswith((TOKEN_STATE, ETAG_STATE)):
        raise SyncStateUnusable(f"folder {place.folder}: the sync state is not a DAV sync state of this version")
    token_now, ctag = _current(client, place)
    if state is not None and state.startswith(ETAG_STATE):
        return _by_etags(client, place, _read_etags(state, place), ctag)
    if method == "auto" and token_now is not None:
        token = state[len(TOKEN_STATE) :] if state is not None else None
        try:
            return _by_token(client, place, token or None)
        except DavRefused as exc:
            if token or exc.status not in (400, 403, 405, 415, 422, 501):
                raise
            log.info("%s: folder %s: the server offers sync tokens but refused a sync-collection REPORT (%s); "
                     "comparing ETags instead", client.mailbox, place.folder, exc)  # fmt: skip
    if state is not None:
        log.info("%s: folder %s: no sync token offered any more; comparing ETags", client.mailbox, place.folder)
    return _by_etags(client, place, None, ctag)


# -- sync-collection --------------------------------------------------------------------------------


def _by_token(client: DavClient, place: Place, token: str | None) -> SyncResult:
    url = client.url(place.collection.href)
    changed: dict[str, Member] = {}
    deleted: dict[str, None] = {}
    whole = token is None  # a first listing: nothing was known, so nothing was removed
    for _ in range(_MAX_ROUNDS):
        try:
            answer = client.xml("REPORT", url, sync_collection_body(token, LIST_PROPS), None)
        except DavRefused as exc:
            if token is not None and (exc.condition == "valid-sync-token" or exc.status in (403, 409, 410)):
                log.info("%s: folder %s: the server no longer accepts its sync token (%s); listing it whole",
                         client.mailbox, place.folder, exc)  # fmt: skip
                token, changed, deleted, whole = None, {}, {}, True
                continue
            raise
        try:
            responses, new_token = parse_multistatus(answer.content)
        except ValueError as exc:
            raise ConnectionFailed(f"REPORT {where(url)}: not WebDAV XML ({exc})") from None
        if new_token is None:
            raise ConnectionFailed(f"REPORT {where(url)}: the sync-collection answer carries no sync token")
        truncated = False
        for response in responses:
            if response.href.rstrip("/") == place.collection.href.rstrip("/"):
                truncated = truncated or response.status == 507
                continue
            if response.gone:
                deleted[response.href] = None
                changed.pop(response.href, None)
            elif response.href.endswith("/"):
                continue
            else:
                changed[response.href] = member_of(response)
                deleted.pop(response.href, None)
        token = new_token
        if not truncated:
            break
    found = list(changed.values())
    if found and (place.shared or any(m.size is None or m.changed is None for m in found)):
        # the folder's own (of a shared collection), with the sizes and times the report left out
        mine = members(client, place.collection, place.component, place.excluded)
        found = [mine.get(m.href, m) for m in found if not place.shared or m.href in mine]
    return SyncResult(refs_of(place, found), TOKEN_STATE + (token or ""), () if whole else tuple(sorted(deleted)))


# -- ETag maps ------------------------------------------------------------------------------------------


def _digest(member: Member) -> str:
    basis = member.etag or f"{member.size}/{member.changed.isoformat() if member.changed else ''}"
    return base64.urlsafe_b64encode(hashlib.blake2b(basis.encode(), digest_size=6).digest()).decode()


def _read_etags(state: str, place: Place) -> tuple[str | None, dict[str, str]]:
    try:
        raw = json.loads(zlib.decompress(base64.urlsafe_b64decode(state[len(ETAG_STATE) :].encode())))
        ctag, etags = raw.get("c"), raw["e"]
        if not isinstance(etags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in etags.items()):
            raise ValueError("not a map")
    except (ValueError, KeyError, TypeError, AttributeError, zlib.error) as exc:
        raise SyncStateUnusable(f"folder {place.folder}: the ETag sync state cannot be read ({exc})") from None
    return (ctag if isinstance(ctag, str) else None), etags


def _write_etags(ctag: str | None, etags: dict[str, str]) -> str:
    data = json.dumps({"c": ctag, "e": etags}, separators=(",", ":"), sort_keys=True).encode()
    return ETAG_STATE + base64.urlsafe_b64encode(zlib.compress(data, 9)).decode()


def _by_etags(client: DavClient, place: Place, previous: tuple[str | None, dict[str, str]] | None, ctag: str | None) -> SyncResult:
    if previous is not None and ctag is not None and previous[0] == ctag:
        return SyncResult((), _write_etags(ctag, previous[1]))  # nothing changed in the collection
    listed = members(client, place.collection, place.component, place.excluded)
    now = {name_of(m.href): _digest(m) for m in listed.values()}
    before = previous[1] if previous is not None else {}
    found = [m for m in listed.values() if before.get(name_of(m.href)) != now[name_of(m.href)]]
    deleted = tuple(sorted(place.collection.href + name for name in before if name not in now))
    return SyncResult(refs_of(place, found), _write_etags(ctag, now), deleted)
