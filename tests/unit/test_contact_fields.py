"""Contact fields beyond names and numbers: the model's rules, the mapper's limits, the sanitizer."""

from __future__ import annotations

import pytest

from groupmigrate.capabilities import Capabilities
from groupmigrate.core.mappers import MapContext, map_item
from groupmigrate.core.mappers.contacts import fit_to_limits
from groupmigrate.core.sanitize import Sanitizer
from groupmigrate.items import Contact, PostalAddress


def test_email_names_align_with_addresses() -> None:
    contact = Contact(emails=("a@example.org", "b@example.org"), email_names=("Anna (Privat)", None))
    assert contact.email_names == ("Anna (Privat)", "")
    assert contact.named_emails == (("a@example.org", "Anna (Privat)"), ("b@example.org", ""))
    assert Contact(emails=("a@example.org",), email_names=("",)).email_names == ()  # no name at all: ()
    assert Contact(emails=("a@example.org",)).named_emails == (("a@example.org", ""),)
    with pytest.raises(ValueError, match="email_names: 1 name"):
        Contact(emails=("a@example.org", "b@example.org"), email_names=("Anna",))
    with pytest.raises(ValueError, match="member_names"):
        Contact(is_distribution_list=True, members=("a@example.org",), member_names=("A", "B"))


def test_one_mailing_address_at_most() -> None:
    with pytest.raises(ValueError, match="mailing"):
        Contact(addresses=(PostalAddress("home", mailing=True), PostalAddress("business", mailing=True)))


def test_fit_to_limits_cuts_names_with_their_addresses() -> None:
    contact = Contact(
        display_name="Anna",
        emails=("a@example.org", "b@example.org", "c@example.org", "d@example.org"),
        email_names=("", "Anna B", "", "Anna (Privat)"),
        im_addresses=("sip:1@example.org", "sip:2@example.org", "sip:3@example.org", "sip:4@example.org"),
    )
    cut, changes = fit_to_limits(contact, Capabilities(max_contact_emails=3, max_contact_im_addresses=3))
    assert cut.emails == ("a@example.org", "b@example.org", "c@example.org")
    assert cut.email_names == ("", "Anna B", "")
    assert cut.im_addresses == ("sip:1@example.org", "sip:2@example.org", "sip:3@example.org")
    assert [(c.field, c.message) for c in changes] == [
        ("emails", "e-mail address 'Anna (Privat) <d@example.org>' dropped: the destination keeps 3 per contact"),
        ("im_addresses", "IM address 'sip:4@example.org' dropped: the destination keeps 3 per contact"),
    ]
    only_named_last = Contact(emails=("a@example.org", "b@example.org"), email_names=("", "B"))
    assert fit_to_limits(only_named_last, Capabilities(max_contact_emails=1))[0].email_names == ()


def test_fields_a_destination_does_not_keep_are_dropped_and_logged_per_contact() -> None:
    caps = Capabilities(unsupported_fields={"contacts.manager", "contacts.emails", "contacts.children"})
    ctx = MapContext(owner="alice@example.org")
    contact = Contact(display_name="Anna", manager="Karl", children=("Mia", "Paul"),
                      emails=("a@example.org",), email_names=("Anna (Privat)",))  # fmt: skip
    result = map_item(contact, caps, ctx)
    assert result.item == Contact(display_name="Anna")
    assert [(c.kind, c.field, c.message) for c in result.changes] == [
        ("dropped", "emails", "e-mail addresses 'a@example.org' dropped: the destination does not keep it"),
        ("dropped", "manager", "manager 'Karl' dropped: the destination does not keep it"),
        ("dropped", "children", "children 'Mia', 'Paul' dropped: the destination does not keep it"),
    ]
    assert ctx.counted("dropped", "children") == (1, 2)
    assert map_item(Contact(display_name="Ben"), caps, ctx).changes == []


def test_unsupported_fields_meet_as_the_destination_says() -> None:
    source = Capabilities(unsupported_fields={"contacts.manager"})
    destination = Capabilities(unsupported_fields={"contacts.spouse_name"})
    assert source.intersect(destination).unsupported_fields == frozenset({"contacts.spouse_name"})


def test_sanitizer_keeps_names_with_their_addresses() -> None:
    contact = Contact(
        display_name="Anna",
        emails=("not an address", "b@example.org", "B@example.org", "c@example.org"),
        email_names=("Broken", "Anna B", "Anna B again", "Anna C"),
        personal_homepage="htp:/nope",
    )
    clean, changes = Sanitizer().sanitize(contact, Capabilities())
    assert isinstance(clean, Contact)
    assert clean.named_emails == (("b@example.org", "Anna B"), ("c@example.org", "Anna C"))
    assert clean.personal_homepage is None
    assert any(c.field == "personal_homepage" for c in changes)
