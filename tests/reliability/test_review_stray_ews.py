"""A stray item (a contact filed in Inbox) copied on the first run must stay exactly once on
later runs, and verify must count it as migrated, not missing."""

from __future__ import annotations

import collections
from typing import Any

from groupmigrate.items import Contact

from .support import content_key, mail, open_route, stored_items
from .test_exactly_once import INBOX, seed_inbox


def _copies(route: Any, pair: Any, name: str) -> int:
    return sum(1 for _, i in stored_items(route.destination_server, pair.destination) if content_key(i)[1] == name)


def _stray_route(route: Any) -> Any:
    pair = route.add_user("stray")
    seed_inbox(route, pair.source, 2, "stray")
    route.source_server.seed_item(
        pair.source, Contact(display_name="Stray Contact in Inbox", emails=("stray@example.net",)), folder=INBOX
    )
    route.register_source()
    return pair


def test_review_stray_contact_in_inbox_is_not_copied_again_without_stamps(tmp_path, register_source):
    # generic profile: mixed folders allowed, no provenance stamps
    with open_route(tmp_path, register=register_source, destination_profile="generic") as route:
        pair = _stray_route(route)
        route.migrator(workers=1).run([pair])
        assert _copies(route, pair, "Stray Contact in Inbox") == 1
        route.migrator(workers=1).run([pair])
        assert _copies(route, pair, "Stray Contact in Inbox") == 1, "the second run copied the stray contact again"


def test_review_verify_counts_a_migrated_stray_contact_as_migrated(tmp_path, register_source):
    with open_route(tmp_path, register=register_source) as route:  # workmail: stamps kept
        pair = _stray_route(route)
        route.migrator(workers=1).run([pair])
        assert _copies(route, pair, "Stray Contact in Inbox") == 1
        report = route.migrator().verify([pair])
        missing = [e for e in report.accounts[0].log if e.kind == "missing"]
        assert report.totals()["missing"] == 0, missing
