"""Contact mapper: photo -> attachment, distribution lists, unsupported fields."""

from __future__ import annotations

import pytest

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Attachment, Contact
from groupmigrate.core.mappers import Change, MapContext, map_item

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60
NO_PHOTO = Capabilities(supports_contact_photo=False)
NO_LISTS = Capabilities(supports_distribution_lists=False)


def photo(name: str, content: bytes, content_type: str) -> Attachment:
    return Attachment(name=name, content=content, content_type=content_type, is_contact_photo=False)


NOTE = Attachment(name="photo.jpg", content=b"older", content_type="image/jpeg")
LIST = Contact(display_name="Team", is_distribution_list=True, members=("a@example.org", "b@example.org"))


@pytest.mark.parametrize(
    ("contact", "caps", "expected", "changes"),
    [
        pytest.param(Contact(display_name="Ann", photo=JPEG), Capabilities(), Contact(display_name="Ann", photo=JPEG), [], id="photo-kept"),
        pytest.param(
            Contact(display_name="Ann", photo=JPEG),
            NO_PHOTO,
            Contact(display_name="Ann", attachments=(photo("photo.jpg", JPEG, "image/jpeg"),)),
            [("changed", "photo", "contact photo kept as the attachment 'photo.jpg': the destination does not show contact photos")],
            id="jpeg-photo-to-attachment",
        ),
        pytest.param(
            Contact(display_name="Ann", photo=PNG),
            NO_PHOTO,
            Contact(display_name="Ann", attachments=(photo("photo.png", PNG, "image/png"),)),
            [("changed", "photo", "contact photo kept as the attachment 'photo.png': the destination does not show contact photos")],
            id="png-photo-named-by-type",
        ),
        pytest.param(
            Contact(display_name="Ann", photo=JPEG, attachments=(NOTE,)),
            NO_PHOTO,
            Contact(display_name="Ann", attachments=(NOTE, photo("photo (2).jpg", JPEG, "image/jpeg"))),
            [("changed", "photo", "contact photo kept as the attachment 'photo (2).jpg': the destination does not show contact photos")],
            id="name-taken",
        ),
        pytest.param(
            Contact(display_name="Ann", photo=b"??"),
            NO_PHOTO,
            Contact(display_name="Ann", attachments=(photo("photo.bin", b"??", "application/octet-stream"),)),
            [("changed", "photo", "contact photo kept as the attachment 'photo.bin': the destination does not show contact photos")],
            id="unknown-image-type",
        ),
        pytest.param(Contact(display_name="Ann"), NO_PHOTO, Contact(display_name="Ann"), [], id="no-photo"),
        pytest.param(LIST, Capabilities(), LIST, [], id="list-supported"),
        pytest.param(Contact(display_name="Ann", nickname="Annie"), Capabilities(), Contact(display_name="Ann", nickname="Annie"), [], id="fields-kept"),
    ],
)
def test_contact_mapping(contact: Contact, caps: Capabilities, expected: Contact, changes: list[tuple[str, str, str]]) -> None:
    ctx = MapContext(owner="alice@example.org")
    result = map_item(contact, caps, ctx)
    assert result.item == expected
    assert result.skip_reason is None
    assert [(c.kind, c.field, c.message) for c in result.changes] == changes
    if not changes:
        assert result.item is contact


def test_photo_attachment_counted_per_contact() -> None:
    ctx = MapContext(owner="alice@example.org")
    for name in ("Ann", "Ben", "Cy"):
        result = map_item(Contact(display_name=name, photo=JPEG), NO_PHOTO, ctx)
        assert len(result.changes) == 1  # a change per contact: the user sees which ones
    assert ctx.counted("changed", "photo") == (3, 3)


@pytest.mark.parametrize(
    ("contact", "reason"),
    [
        pytest.param(LIST, "distribution lists are not supported by the destination: 'Team' (2 members) not created", id="named"),
        pytest.param(
            Contact(is_distribution_list=True),
            "distribution lists are not supported by the destination: '(no name)' (0 members) not created",
            id="unnamed",
        ),
    ],
)
def test_distribution_list_skipped(contact: Contact, reason: str) -> None:
    ctx = MapContext(owner="alice@example.org")
    result = map_item(contact, NO_LISTS, ctx)
    assert result.item is None and result.skip_reason == reason and result.changes == []
    assert ctx.counted("skipped", "is_distribution_list") == (1, 1)


def test_unsupported_contact_field() -> None:
    ctx = MapContext(owner="alice@example.org", unsupported_fields={"contacts.nickname", "contacts.birthday"})
    first = map_item(Contact(display_name="Ann", nickname="Annie"), Capabilities(), ctx)
    second = map_item(Contact(display_name="Ben", nickname="Benny"), Capabilities(), ctx)
    assert first.item == Contact(display_name="Ann") and second.item == Contact(display_name="Ben")
    # each contact that loses a value says which
    assert first.changes == [Change("dropped", "nickname", "nickname 'Annie' dropped: the destination does not keep it")]
    assert second.changes == [Change("dropped", "nickname", "nickname 'Benny' dropped: the destination does not keep it")]
    assert ctx.counted("dropped", "nickname") == (2, 2)
    assert ctx.counted("dropped", "birthday") == (0, 0)


def test_size_limit_counts_photo() -> None:
    result = map_item(Contact(display_name="Ann", photo=b"\xff\xd8\xff" + bytes(5000)), Capabilities(max_item_size=4096), MapContext(owner="a@example.org"))
    assert result.item is None
    assert result.skip_reason == "item size 5.9 KB is over the destination limit of 4.0 KB"
