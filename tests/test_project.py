"""Project-level promises: the public API, typing, docs, and a core free of exchangelib."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import groupmigrate

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = sorted(
    """
    ALL_ITEM_TYPES AccessDenied AccessError AccountAnalysis AccountFinished AccountPair AccountReport
    AccountStarted AccountsFileError Analysis Attachment Attendee AuthenticationError BasicAuth
    CalendarEvent Capabilities CheckResult CombinedDestination CombinedSource ConfigError ConnectionFailed Contact DuplicatePolicy
    DuplicateSkipped EWSDestination EWSSource Event Folder FolderStarted GroupmigrateError ItemFailed
    ItemMigrated ItemRef ItemRejected ItemSkipped LogEntry LoggingSink Mailbox MailboxNotFound Message
    Migrator Note OAuth2ClientCredentials Phone PostalAddress Progress Report RunFinished RunStarted
    Secret SourceIsReadOnly SqliteStateStore StateError StateStore Task Throttled TokenProvider TqdmSink
    TransientError read_accounts_csv Credentials OutcomeUnknown StateLocked FlagStatus Importance MessageKind
    NoteColor Response Sensitivity ShowAs TaskStatus Unreadable
    """.split()
)


def test_public_api_is_pinned():
    assert sorted(groupmigrate.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(groupmigrate, name) is not None, name


def test_core_imports_without_exchangelib():
    code = (
        "import sys; sys.modules['exchangelib'] = None; sys.modules['lxml'] = None\n"
        "import groupmigrate, groupmigrate.core.migrator, groupmigrate.core.report, groupmigrate.core.state\n"
        "assert 'exchangelib' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_mypy_strict_passes_on_the_package():
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "groupmigrate"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stdout[-4000:]


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(tmp_path / "html")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-4000:]
