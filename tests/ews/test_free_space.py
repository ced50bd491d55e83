"""The destination's free space: the mailbox's quota minus its size, as the top of the mailbox
tells them (PidTagMessageSizeExtended and the quota properties); None where it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from groupmigrate.accounts import AccountPair
from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.core.mappers import format_size
from groupmigrate.core.migrator import Migrator
from groupmigrate.errors import AccessError
from groupmigrate.items import Folder
from groupmigrate.protocols import SupportsQuota
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.conformance import sample_message

from .servers import SERVICE, SERVICE_PASSWORD, endpoint_kwargs, served

SRC = "alice@contoso.com"
ADDR = "alice@example.org"
QUOTA = 50 * 1024 * 1024  # a whole number of KB: the server tells quotas in KB


def stored_size(server: EWSTestServer, address: str) -> int:
    return sum(item.size for item in server.store.items.values() if item.mailbox == address)


@pytest.mark.parametrize("profile", ["exchange", "exchange-online", "workmail"])
def test_free_space_is_the_quota_minus_the_stored_size_and_shrinks_with_new_items(profile: str) -> None:
    with served(profile, ADDR) as server:
        server.knobs.mailbox_quota_bytes = QUOTA
        for i in range(3):
            server.seed_message(ADDR, ("inbox",), sample_message(i).mime)
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        assert isinstance(mailbox, SupportsQuota)
        before = stored_size(server, ADDR)
        assert before > 0
        mailbox.check()  # the server version is known: the next request is ours alone
        server.clear_operations()
        assert mailbox.free_space() == QUOTA - before
        assert [op.operation for op in server.operations] == ["GetFolder"]

        folder = mailbox.ensure_folder(Folder(("Imported",), kind="mail"))
        results = mailbox.create_items(folder, [sample_message(i) for i in range(3, 6)])
        assert all(r.ok for r in results), results
        after = stored_size(server, ADDR)
        assert after > before
        assert mailbox.free_space() == QUOTA - after


def test_no_quota_told_gives_none() -> None:
    with served("exchange", ADDR) as server:
        server.seed_message(ADDR, ("inbox",), sample_message(0).mime)
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        assert isinstance(mailbox, SupportsQuota)
        assert mailbox.free_space() is None
        assert [op.operation for op in server.operations[-1:]] == ["GetFolder"]


def test_a_full_mailbox_has_no_free_space() -> None:
    with served("exchange", ADDR) as server:
        server.knobs.mailbox_quota_bytes = 1024
        for i in range(8):
            server.seed_message(ADDR, ("inbox",), sample_message(i).mime)
        assert stored_size(server, ADDR) > 1024
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        assert mailbox.free_space() == 0


def test_a_transient_failure_gives_none_and_is_not_repeated() -> None:
    with served("exchange", ADDR) as server:
        server.knobs.mailbox_quota_bytes = QUOTA
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        mailbox.check()
        server.knobs.throttle_rate = 1.0
        server.clear_operations()
        assert mailbox.free_space() is None
        assert len(server.operations) == 1
        server.knobs.throttle_rate = 0.0
        server.knobs.http503_rate = 1.0
        assert mailbox.free_space() is None


def test_an_access_error_is_raised() -> None:
    with served("exchange", ADDR) as server:
        server.knobs.mailbox_quota_bytes = QUOTA
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        server.revoke_impersonation(SERVICE, ADDR)
        with pytest.raises(AccessError):
            mailbox.free_space()


def _servers(quota: int | None) -> tuple[EWSTestServer, EWSTestServer]:
    from .servers import make_server

    src = make_server("exchange-online", SRC)
    dst = make_server("workmail", ADDR)
    for i in range(2):
        src.seed_message(SRC, ("inbox",), sample_message(i).mime)
    dst.seed_message(ADDR, ("inbox",), sample_message(9).mime)
    dst.knobs.mailbox_quota_bytes = quota
    return src, dst


@pytest.mark.parametrize("quota", [QUOTA, None])
def test_analyze_reports_the_destination_free_space(quota: int | None, tmp_path: Path) -> None:
    src, dst = _servers(quota)
    try:
        migrator = Migrator(
            EWSSource(**endpoint_kwargs(src)), EWSDestination(**endpoint_kwargs(dst)), state=str(tmp_path / "m.db")
        )
        analysis = migrator.analyze([AccountPair(SRC, ADDR)])
        (account,) = analysis.accounts
        assert account.error is None
        assert account.items.get("mail") == 2
        if quota is None:
            assert account.destination_free is None
            assert "destination free: unknown" in analysis.summary()
        else:
            expected = quota - stored_size(dst, ADDR)
            assert account.destination_free == expected
            assert f"destination free: {format_size(expected)}" in analysis.summary()
    finally:
        src.stop()
        dst.stop()


def test_the_cli_prints_the_destination_free_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from groupmigrate.frontdoors.cli import main

    src, dst = _servers(QUOTA)
    try:
        (tmp_path / "accounts.csv").write_text(f"source;destination\n{SRC};{ADDR}\n", encoding="utf-8")
        config = tmp_path / "migration.toml"
        config.write_text(
            "\n".join(
                [
                    "[source]", f'url = "{src.url}"', 'profile = "exchange-online"', "impersonation = true",
                    "[source.auth]", 'type = "basic"', f'username = "{SERVICE}"', 'password_env = "GM_FS_PASSWORD"',
                    "[destination]", f'url = "{dst.url}"', 'profile = "workmail"', "impersonation = true",
                    "[destination.auth]", 'type = "basic"', f'username = "{SERVICE}"', 'password_env = "GM_FS_PASSWORD"',
                    "[migration]", 'accounts = "accounts.csv"', f'state = "{tmp_path / "m.db"}"',
                ]
            ),
            encoding="utf-8",
        )  # fmt: skip
        monkeypatch.setenv("GM_FS_PASSWORD", SERVICE_PASSWORD)
        monkeypatch.chdir(tmp_path)
        assert main(["analyze", str(config)]) == 0
        out = capsys.readouterr().out
        expected = QUOTA - stored_size(dst, ADDR)
        assert f"destination free: {format_size(expected)}" in out, out
        assert "unknown" not in out
    finally:
        src.stop()
        dst.stop()


@pytest.mark.parametrize(
    ("usage", "free"),
    [
        ({"size": 1000, "prohibit_receive_quota_kb": 10, "storage_quota_limit_kb": 5}, 10 * 1024 - 1000),
        ({"size": 1000, "storage_quota_limit_kb": 5}, 5 * 1024 - 1000),
        ({"size": 1000, "prohibit_receive_quota_kb": -1, "storage_quota_limit_kb": 5}, None),  # unlimited
        ({"prohibit_receive_quota_kb": 10}, None),
        ({"size": 1000}, None),
    ],
)
def test_which_quota_counts(usage: dict[str, int], free: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    from groupmigrate.backends.ews.services import MailboxUsage

    with served("exchange", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        monkeypatch.setattr(mailbox, "_call", lambda fn, **kw: MailboxUsage(**usage))
        assert mailbox.free_space() == free
