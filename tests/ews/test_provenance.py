"""Provenance stamps: written in the same CreateItem as each item, found again by FindItem.

Also: stray items (a mail filed among contacts, a contact in the Inbox) are read and written
by their own type, and contacts that do not fit EWS are refused rather than cut.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from groupmigrate.backends.ews import PROFILES, EWSDestination, EWSSource
from groupmigrate.backends.ews.models import PROVENANCE_PROPERTY_NAME, PROVENANCE_PROPERTY_SET
from groupmigrate.items import ALL_ITEM_TYPES, Contact, Event, Folder, Item, ItemType, Message, Phone, PostalAddress, Task
from groupmigrate.protocols import DestinationMailbox, SupportsProvenance
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.conformance import sample_items, sample_message

from .servers import endpoint_kwargs, served

ADDR = "alice@contoso.com"
T = "{http://schemas.microsoft.com/exchange/services/2006/types}"


def _stamps(n: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(n)]


def _stored_stamps(server: EWSTestServer, path: tuple[str, ...]) -> list[str | None]:
    """The stamp each stored item of ``path`` carries, as the server holds it."""
    out: list[str | None] = []
    for item in server.folder_items(ADDR, path):
        value = None
        for prop in item.element.findall(f"{T}ExtendedProperty"):
            uri = prop.find(f"{T}ExtendedFieldURI")
            if (
                uri is not None
                and (uri.get("PropertySetId") or "").lower() == PROVENANCE_PROPERTY_SET
                and uri.get("PropertyName") == PROVENANCE_PROPERTY_NAME
                and uri.get("PropertyType") == "String"
            ):
                value = prop.findtext(f"{T}Value")
        out.append(value)
    return out


def _writable(kind: ItemType, profile: str) -> list[Item]:
    items = sample_items(kind)
    if not PROFILES[profile].capabilities.supports_distribution_lists:
        items = [i for i in items if not getattr(i, "is_distribution_list", False)]
    return items


@pytest.mark.parametrize("profile", ["exchange", "exchange-online", "workmail"])
def test_stamps_are_written_with_each_item_and_found_again(profile: str) -> None:
    with served(profile, ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        assert isinstance(mailbox, SupportsProvenance) and isinstance(mailbox, DestinationMailbox)
        assert mailbox._caps.supports_provenance
        for kind in ALL_ITEM_TYPES:
            folder = mailbox.ensure_folder(Folder((f"Stamped {kind}",), kind=kind))
            items = _writable(kind, profile)
            stamps = _stamps(len(items))
            server.clear_operations()
            results = mailbox.create_items(folder, items, stamps)
            assert all(r.ok for r in results), (kind, results)
            # the stamp travels in the CreateItem itself (calendar: occurrences are updated after)
            writes = [op.operation for op in server.write_operations(ADDR)]
            assert writes.count("CreateItem") == 1 and (kind == "calendar" or writes == ["CreateItem"])
            assert sorted(s or "" for s in _stored_stamps(server, folder.path)) == sorted(stamps)
            # unstamped items of the folder are never reported
            extra = mailbox.create_items(folder, items[:1])
            assert extra[0].ok
            # IsEqualTo (one stamp), Or (several) and Exists (every stamped item)
            assert mailbox.find_stamps(folder, stamps[:1]) == {stamps[0]: [results[0].item_id]}
            assert mailbox.find_stamps(folder, stamps) == {s: [r.item_id] for s, r in zip(stamps, results)}
            assert mailbox.find_stamps(folder) == {s: [r.item_id] for s, r in zip(stamps, results)}
            assert mailbox.find_stamps(folder, ["0" * 32]) == {}
            assert mailbox.find_stamps(folder, []) == {}
            # fetch_existing reads full items by destination id, each as what it is
            fetched = list(mailbox.fetch_existing(folder, [r.item_id or "" for r in reversed(results)] + ["AAMkGone" + "A" * 40]))
            assert [type(i) for i in fetched] == [type(i) for i in reversed(items)]
            assert [i.source_id for i in fetched] == [r.item_id for r in reversed(results)]
            if kind == "mail":
                assert all(isinstance(m, Message) and m.mime for m in fetched)


def test_an_item_created_twice_is_listed_under_its_stamp_twice_and_lookups_are_chunked() -> None:
    with served("exchange", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Many",), kind="mail"))
        messages = [sample_message(i) for i in range(120)]
        stamps = _stamps(120)
        results = []
        for start in range(0, 120, 40):
            results += mailbox.create_items(folder, messages[start : start + 40], stamps[start : start + 40])
        (again,) = mailbox.create_items(folder, [messages[5]], [stamps[5]])
        found = mailbox.find_stamps(folder, stamps)
        assert len(found) == 120 and sorted(found[stamps[5]]) == sorted([results[5].item_id, again.item_id])
        assert all(found[s] == [r.item_id] for s, r in zip(stamps, results) if s != stamps[5])
        assert mailbox.find_stamps(folder) == found


def test_the_generic_profile_writes_no_stamp() -> None:
    with served("generic", ADDR) as server:
        assert not server.knobs.keeps_named_properties  # the generic test server drops them
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        assert not EWSDestination(**endpoint_kwargs(server)).capabilities.supports_provenance
        server.knobs.keeps_named_properties = True
        folder = mailbox.ensure_folder(Folder(("Generic",), kind="mail"))
        assert all(r.ok for r in mailbox.create_items(folder, [sample_message(1)], _stamps(1)))
        assert _stored_stamps(server, ("Generic",)) == [None]  # not even sent
        assert mailbox.find_stamps(folder) == {}


def test_a_server_that_drops_named_properties_loses_the_stamp_silently() -> None:
    with served("exchange", ADDR) as server:
        server.knobs.keeps_named_properties = False
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        for kind in ("mail", "contacts"):
            folder = mailbox.ensure_folder(Folder((f"Dropped {kind}",), kind=kind))
            items = sample_items(kind)[:2]
            stamps = _stamps(2)
            results = mailbox.create_items(folder, items, stamps)
            assert all(r.ok for r in results)
            assert _stored_stamps(server, folder.path) == [None, None]
            assert mailbox.find_stamps(folder, stamps) == {} and mailbox.find_stamps(folder) == {}


def test_stray_items_are_read_and_written_as_what_they_are() -> None:
    with served("exchange", ADDR) as src_server, served("exchange-online", ADDR) as dst_server:
        mail = sample_message(1)
        contact = Contact(display_name="Stray Contact", given_name="Stray", emails=("stray@example.org",))
        start = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc)
        event = Event(subject="Stray event", start=start, end=start + dt.timedelta(hours=1), timezone="UTC")
        src_server.seed_message(ADDR, ("contacts",), mail.mime, is_read=True)
        src_server.seed_item(ADDR, contact, folder=("inbox",))
        src_server.seed_item(ADDR, event, folder=("tasks",))
        src_server.seed_item(ADDR, Task(subject="A real task"), folder=("tasks",))
        source = EWSSource(**endpoint_kwargs(src_server)).open_mailbox(ADDR)
        destination = EWSDestination(**endpoint_kwargs(dst_server)).open_mailbox(ADDR)
        readback = EWSSource(**endpoint_kwargs(dst_server)).open_mailbox(ADDR)
        roles = {f.role: f for f in source.folders() if f.role}
        expected = {"contacts": ["mail"], "inbox": ["contacts"], "tasks": ["calendar", "tasks"]}
        for role, kinds in expected.items():
            folder = roles[role]
            refs = list(source.list_items(folder))
            assert sorted(r.item_type for r in refs) == kinds
            items = list(source.fetch(folder, refs))
            assert sorted(type(i).item_type for i in items) == kinds
            # refs from elsewhere (e.g. a later run) are read by their real type too
            fresh = EWSSource(**endpoint_kwargs(src_server)).open_mailbox(ADDR)
            assert sorted(type(i).item_type for i in fresh.fetch(folder, refs)) == kinds
            target = destination.ensure_folder(folder)
            results = destination.create_items(target, items, _stamps(len(items)))
            assert all(r.ok for r in results), results
            back_folder = next(f for f in readback.folders() if f.path == target.path)
            back = list(readback.fetch(back_folder, list(readback.list_items(back_folder))))
            assert sorted(type(i).item_type for i in back) == kinds
            assert len(destination.find_stamps(target)) == len(items)
            for kind in set(kinds):
                assert len(list(destination.existing(target, kind))) == kinds.count(kind)


@pytest.mark.parametrize(
    ("contact", "words"),
    [
        (Contact(display_name="Four", emails=tuple(f"a{i}@example.org" for i in range(4))), "4 e-mail addresses"),
        (Contact(display_name="Sites", websites=("https://a.example.org", "https://b.example.org")), "2 web pages"),
        (Contact(display_name="Phones", phones=tuple(Phone("mobile", f"+1 555 01{i:02}") for i in range(7))), "phone"),
        (Contact(display_name="Places", addresses=tuple(PostalAddress("home", city=f"City {i}") for i in range(4))), "postal"),
    ],
)
def test_contacts_that_do_not_fit_are_refused_not_cut(contact: Contact, words: str) -> None:
    with served("exchange", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Contacts",), kind="contacts", role="contacts"))
        fits = Contact(display_name="Fits", emails=("x@example.org", "y@example.org", "z@example.org"),
                       phones=(Phone("mobile", "+1"), Phone("mobile", "+2")))  # fmt: skip
        results = mailbox.create_items(folder, [fits, contact])
        assert results[0].ok and any("stored as" in w for w in results[0].warnings)
        assert not results[1].ok and results[1].code == "Unsupported" and not results[1].transient
        assert words in (results[1].error or "")
        assert mailbox.count(folder) == 1


def test_every_ews_profile_states_its_limits() -> None:
    for name, profile in PROFILES.items():
        caps = profile.capabilities
        assert caps.allows_mixed_folders and not caps.stores_exact_mime
        assert (caps.max_contact_emails, caps.max_contact_websites) == (3, 1)
        assert caps.supports_provenance == (name != "generic")


def test_a_folder_created_by_this_mailbox_is_not_searched_until_written() -> None:
    """A brand-new folder holds nothing: no FindItem for it until something is written there."""
    with served("workmail", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        existing = mailbox.ensure_folder(Folder(("Inbox",), kind="mail", role="inbox"))
        fresh = mailbox.ensure_folder(Folder(("Brand new",), kind="mail"))
        server.clear_operations()
        assert list(mailbox.existing(fresh, "mail")) == [] and mailbox.find_stamps(fresh) == {}
        assert [op.operation for op in server.operations] == []
        list(mailbox.existing(existing, "mail"))  # a folder that was there before is searched
        assert [op.operation for op in server.operations] == ["FindItem"]
        stamp = uuid.uuid4().hex
        (created,) = mailbox.create_items(fresh, [sample_message(1)], [stamp])
        assert created.ok
        assert [m.subject for m in mailbox.existing(fresh, "mail")] == [sample_message(1).subject]
        assert mailbox.find_stamps(fresh) == {stamp: [created.item_id]}
