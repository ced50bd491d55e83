"""Mailbox-independent operations: ConvertId, ResolveNames, GetServerTimeZones."""

from __future__ import annotations

from lxml import etree

from groupmigrate.testing.ews.context import Context
from groupmigrate.testing.ews.service import register
from groupmigrate.testing.ews.soap import ResponseError, error_message, response_message
from groupmigrate.testing.ews.xmlns import M, T, local, sub


@register("ConvertId", needs_mailbox=False)
def convert_id(ctx: Context) -> list[etree._Element]:
    destination = ctx.op.get("DestinationFormat", "EwsId")
    out = []
    for source in ctx.op.find(M("SourceIds")) if ctx.op.find(M("SourceIds")) is not None else []:
        if not isinstance(source.tag, str):
            continue
        value = source.get("Id", "")
        known = value in ctx.store.items or value in ctx.store.folders
        if not known:
            out.append(error_message("ConvertId", ResponseError("ErrorInvalidIdMalformed", "Id is malformed.")))
            continue
        msg = response_message("ConvertId")
        alt = sub(msg, M("AlternateId"), Format=destination, Id=value, Mailbox=source.get("Mailbox", ""))
        alt.set("{http://www.w3.org/2001/XMLSchema-instance}type", f"t:{local(source.tag)}Type")
        out.append(msg)
    return out


def _decode_imceaex(value: str) -> str:
    """``IMCEAEX-_o=Org_ou=...+20..._cn=x@domain`` -> ``/o=Org/ou=... .../cn=x``."""
    body = value[len("IMCEAEX-"):]
    if "@" in body:
        body = body.rsplit("@", 1)[0]
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "_":
            out.append("/")
        elif c == "+" and i + 2 < len(body) + 1 and all(ch in "0123456789abcdefABCDEF" for ch in body[i + 1 : i + 3]):
            out.append(chr(int(body[i + 1 : i + 3], 16)))
            i += 2
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _candidates(ctx: Context, name: str) -> list[str]:
    """SMTP addresses ``name`` resolves to: exact matches first, else prefix matches."""
    resolvables = ctx.service.directory.resolvables
    key = name.strip()
    lowered = key.lower()
    for prefix in ("smtp:", "sip:", "x500:", "ex:"):
        if lowered.startswith(prefix):
            key = key[len(prefix):]
            lowered = key.lower()
    if lowered.startswith("imceaex-"):
        lowered = _decode_imceaex(key).lower()
    if lowered in resolvables:
        return [resolvables[lowered]]
    if "@" in lowered and ctx.store.mailbox(lowered) is not None:
        return [lowered]
    if lowered.startswith("/o="):
        return []
    found: dict[str, None] = {}
    for mb in ctx.store.mailboxes.values():
        if mb.address.startswith(lowered) or mb.display_name.lower().startswith(lowered):
            found[mb.address] = None
    for alias, address in resolvables.items():
        if not alias.startswith("/o=") and alias.startswith(lowered):
            found[address] = None
    return list(found)


def _resolution(ctx: Context, address: str, full: bool) -> etree._Element:
    mb = ctx.store.mailbox(address)
    name = mb.display_name if mb else address.split("@", 1)[0]
    res = etree.Element(T("Resolution"))
    box = sub(res, T("Mailbox"))
    sub(box, T("Name"), name)
    sub(box, T("EmailAddress"), address)
    sub(box, T("RoutingType"), "SMTP")
    sub(box, T("MailboxType"), "Mailbox" if mb else "OneOff")
    if full:
        contact = sub(res, T("Contact"))
        sub(contact, T("DisplayName"), name)
        addrs = sub(contact, T("EmailAddresses"))
        sub(addrs, T("Entry"), f"SMTP:{address}", Key="EmailAddress1")
        sub(contact, T("ContactSource"), "ActiveDirectory")
    return res


@register("ResolveNames", needs_mailbox=False)
def resolve_names(ctx: Context) -> list[etree._Element]:
    full = (ctx.op.get("ReturnFullContactData", "false")).lower() in ("true", "1")
    out = []
    for entry in ctx.op.findall(M("UnresolvedEntry")):
        matches = _candidates(ctx, entry.text or "")
        if not matches:
            out.append(error_message("ResolveNames", ResponseError(
                "ErrorNameResolutionNoResults", "No results were found.")))
            continue
        if len(matches) > 1:
            msg = response_message("ResolveNames", "Warning", "ErrorNameResolutionMultipleResults")
            msg.remove(msg[0])
            sub(msg, M("MessageText"), "Multiple results were found.")
            sub(msg, M("ResponseCode"), "ErrorNameResolutionMultipleResults")
            sub(msg, M("DescriptiveLinkKey"), "0")
        else:
            msg = response_message("ResolveNames")
        rs = sub(msg, M("ResolutionSet"), TotalItemsInView=str(len(matches)), IncludesLastItemInRange="true")
        for address in matches:
            rs.append(_resolution(ctx, address, full))
        out.append(msg)
    return out


@register("GetServerTimeZones", needs_mailbox=False)
def get_server_time_zones(ctx: Context) -> list[etree._Element]:
    from groupmigrate.testing.ews.tz import ZONES, definition

    full = (ctx.op.get("ReturnFullTimeZoneData", "true")).lower() in ("true", "1")
    ids_el = ctx.op.find(M("Ids"))
    wanted = [i.text or "" for i in ids_el] if ids_el is not None else list(ZONES)
    msg = response_message("GetServerTimeZones")
    defs = sub(msg, M("TimeZoneDefinitions"))
    for ms_id in wanted:
        zone = ZONES.get(ms_id)
        if zone is not None:
            defs.append(definition(zone, full))
    return [msg]
