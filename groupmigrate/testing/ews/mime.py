"""Reading a MIME message the way Exchange does when a client uploads one: properties and attachments.

The MIME bytes themselves are kept exactly as received; what is derived here are the item
properties a server exposes next to them (subject, sender, recipients, body, attachments...).
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.parser
import email.policy
import email.utils
from typing import Optional

from lxml import etree

from groupmigrate.testing.ews.store import StoredAttachment, new_id
from groupmigrate.mime import decode_header as _decode_words
from groupmigrate.testing.ews.xmlns import T, fmt_bool, fmt_datetime, sub, xml_text

__all__ = ["MimeInfo", "read_mime"]

# email's parser does not raise on broken input; these guard the rare exceptions of decoding.
_DECODE_ERRORS = (LookupError, UnicodeError, ValueError, TypeError, AssertionError)


def decode_header(value: object) -> str:
    """A header value decoded from RFC 2047 words, trimmed."""
    return _decode_words(value).strip()


def _mailbox_el(tag: str, name: str, address: str) -> etree._Element:
    box = etree.Element(T(tag))
    if name:
        sub(box, T("Name"), name)
    sub(box, T("EmailAddress"), address)
    sub(box, T("RoutingType"), "SMTP")
    sub(box, T("MailboxType"), "OneOff")
    return box


def _addresses(msg: email.message.Message, header: str) -> list[tuple[str, str]]:
    values = msg.get_all(header) or []
    try:
        pairs = email.utils.getaddresses([decode_header(v) for v in values])
    except _DECODE_ERRORS:
        return []
    return [(n, a) for n, a in pairs if a]


def _payload_text(part: email.message.Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except _DECODE_ERRORS:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1")


class MimeInfo:
    """Properties and attachments of a MIME message, as property elements by name."""

    def __init__(self) -> None:
        self.props: dict[str, etree._Element] = {}
        self.attachments: list[StoredAttachment] = []
        self.sent: Optional[dt.datetime] = None


def _set(info: MimeInfo, name: str, text: str) -> None:
    el = etree.Element(T(name))
    el.text = xml_text(text)
    info.props[name] = el


def read_mime(mime: bytes, mailbox: str, depth: int = 0) -> MimeInfo:
    """Derive message properties and attachments from raw MIME (never raises on malformed input)."""
    info = MimeInfo()
    try:
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(mime)
    except _DECODE_ERRORS:
        return info
    ctype = (msg.get_content_type() or "text/plain").lower()
    item_class = "IPM.Note"
    if ctype == "multipart/signed":
        item_class = "IPM.Note.SMIME.MultipartSigned"
    elif ctype in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        item_class = "IPM.Note.SMIME"
    _set(info, "ItemClass", item_class)
    subject = decode_header(msg.get("Subject"))
    _set(info, "Subject", subject)
    sensitivity = (msg.get("Sensitivity") or "").strip().lower()
    _set(info, "Sensitivity", {"personal": "Personal", "private": "Private",
                               "company-confidential": "Confidential"}.get(sensitivity, "Normal"))
    keywords = msg.get("Keywords")
    if keywords:
        cats = etree.Element(T("Categories"))
        for word in decode_header(keywords).split(","):
            if word.strip():
                sub(cats, T("String"), word.strip())
        if len(cats):
            info.props["Categories"] = cats
    importance = (msg.get("Importance") or "").strip().lower()
    priority = (msg.get("X-Priority") or "").strip()[:1]
    if importance in ("high", "low"):
        _set(info, "Importance", importance.capitalize())
    elif priority in ("1", "2"):
        _set(info, "Importance", "High")
    elif priority in ("4", "5"):
        _set(info, "Importance", "Low")
    else:
        _set(info, "Importance", "Normal")
    if msg.get("In-Reply-To"):
        _set(info, "InReplyTo", str(msg.get("In-Reply-To")).strip())
    date = msg.get("Date")
    if date:
        try:
            sent = email.utils.parsedate_to_datetime(str(date))
            if sent.tzinfo is None:
                sent = sent.replace(tzinfo=dt.timezone.utc)
            info.sent = sent
        except _DECODE_ERRORS:
            pass
    headers = etree.Element(T("InternetMessageHeaders"))
    for key, value in msg.items():
        h = sub(headers, T("InternetMessageHeader"), str(value).replace("\r\n", " ").replace("\n", " "))
        h.set("HeaderName", key)
    info.props["InternetMessageHeaders"] = headers

    to = _addresses(msg, "To")
    cc = _addresses(msg, "Cc")
    bcc = _addresses(msg, "Bcc")
    _set(info, "DisplayTo", "; ".join(n or a for n, a in to))
    _set(info, "DisplayCc", "; ".join(n or a for n, a in cc))
    if msg.get("Disposition-Notification-To"):
        _set(info, "IsReadReceiptRequested", "true")
    senders = _addresses(msg, "Sender") or _addresses(msg, "From")
    froms = _addresses(msg, "From")
    if senders:
        sender = etree.Element(T("Sender"))
        sender.append(_mailbox_el("Mailbox", *senders[0]))
        info.props["Sender"] = sender
    for name, pairs in (("ToRecipients", to), ("CcRecipients", cc), ("BccRecipients", bcc)):
        if pairs:
            arr = etree.Element(T(name))
            for n, a in pairs:
                arr.append(_mailbox_el("Mailbox", n, a))
            info.props[name] = arr
    if subject:
        topic = subject
        for prefix in ("re:", "fw:", "fwd:", "aw:", "wg:", "sv:"):
            if topic.lower().startswith(prefix):
                topic = topic[len(prefix):].strip()
        _set(info, "ConversationTopic", topic)
    if froms:
        frm = etree.Element(T("From"))
        frm.append(_mailbox_el("Mailbox", *froms[0]))
        info.props["From"] = frm
    mid = msg.get("Message-ID")
    if mid:
        _set(info, "InternetMessageId", str(mid).strip())
    if msg.get("References"):
        _set(info, "References", " ".join(str(msg.get("References")).split()))
    reply_to = _addresses(msg, "Reply-To")
    if reply_to:
        arr = etree.Element(T("ReplyTo"))
        for n, a in reply_to:
            arr.append(_mailbox_el("Mailbox", n, a))
        info.props["ReplyTo"] = arr

    body_html: Optional[str] = None
    body_text: Optional[str] = None
    for part, att in _walk(msg):
        if att:
            if depth < 3:
                info.attachments.append(_attachment(part, mailbox, depth))
            continue
        ptype = part.get_content_type().lower()
        if ptype == "text/html" and body_html is None:
            body_html = _payload_text(part)
        elif ptype == "text/plain" and body_text is None:
            body_text = _payload_text(part)
    body = etree.Element(T("Body"))
    if body_html is not None:
        body.set("BodyType", "HTML")
        body.text = xml_text(body_html)
    else:
        body.set("BodyType", "Text")
        body.text = xml_text(body_text or "")
    info.props["Body"] = body
    return info


def _walk(msg: email.message.Message) -> list[tuple[email.message.Message, bool]]:
    """Leaf parts with a flag telling whether each is an attachment (message/rfc822 parts are leaves)."""
    out: list[tuple[email.message.Message, bool]] = []

    def visit(part: email.message.Message, top: bool) -> None:
        ctype = part.get_content_type().lower()
        if not top and ctype == "message/rfc822":
            out.append((part, True))
            return
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                for child in payload:
                    if isinstance(child, email.message.Message):
                        visit(child, False)
            return
        if top:
            out.append((part, False))
            return
        disposition = str(part.get("Content-Disposition") or "").strip().lower()
        filename = None
        try:
            filename = part.get_filename()
        except _DECODE_ERRORS:
            filename = None
        is_att = disposition.startswith("attachment") or bool(filename)
        if not is_att and not ctype.startswith("text/"):
            is_att = True
        if disposition.startswith("inline") and ctype.startswith("text/") and not filename:
            is_att = False
        out.append((part, is_att))

    visit(msg, True)
    return out


def _attachment(part: email.message.Message, mailbox: str, depth: int) -> StoredAttachment:
    ctype = part.get_content_type().lower()
    try:
        name = decode_header(part.get_filename() or "")
    except _DECODE_ERRORS:
        name = ""
    cid = part.get("Content-ID")
    cid = str(cid).strip().strip("<>") if cid else None
    inline = str(part.get("Content-Disposition") or "").strip().lower().startswith("inline")
    if ctype == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        raw = inner.as_bytes() if isinstance(inner, email.message.Message) else b""
        sub_info = read_mime(raw, mailbox, depth + 1)
        item = etree.Element(T("Message"))
        for key in ("ItemClass", "Subject", "Body", "DisplayTo", "Sender", "ToRecipients", "From", "InternetMessageId"):
            if key in sub_info.props:
                item.append(sub_info.props[key])
        sub(item, T("HasAttachments"), fmt_bool(bool(sub_info.attachments)))
        if sub_info.sent:
            sub(item, T("DateTimeSent"), fmt_datetime(sub_info.sent))
        return StoredAttachment(
            attachment_id=new_id("attachment", mailbox),
            kind="item",
            name=name or decode_header(sub_info.props["Subject"].text if "Subject" in sub_info.props else "") or "Message",
            content=raw,
            content_type="message/rfc822",
            content_id=cid,
            is_inline=False,
            item_xml=etree.tostring(item),
        )
    try:
        payload = part.get_payload(decode=True)
    except _DECODE_ERRORS:
        payload = None
    if not isinstance(payload, bytes):
        raw_payload = part.get_payload()
        payload = raw_payload.encode("utf-8", "replace") if isinstance(raw_payload, str) else b""
    return StoredAttachment(
        attachment_id=new_id("attachment", mailbox),
        kind="file",
        name=name or "attachment",
        content=payload,
        content_type=ctype,
        content_id=cid,
        is_inline=inline and bool(cid),
    )
