"""The error tree and the secret-keeping credentials."""

from __future__ import annotations

import pickle

import pytest

import groupmigrate as gm
from groupmigrate import errors


def test_every_error_derives_from_the_root():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), gm.GroupmigrateError), name


@pytest.mark.parametrize(
    ("cls", "transient"),
    [(gm.ConnectionFailed, True), (gm.Throttled, True), (gm.AuthenticationError, False), (gm.AccessDenied, False),
     (gm.MailboxNotFound, False), (gm.ItemRejected, False), (gm.ConfigError, False)],
)  # fmt: skip
def test_transient_flag(cls, transient):
    assert cls.transient is transient


def test_throttled_carries_retry_after():
    exc = gm.Throttled(retry_after=2.5)
    assert exc.retry_after == 2.5 and "2.5 s" in str(exc)


def test_accounts_file_error_lists_rows():
    exc = gm.AccountsFileError([(3, "source", "not an email address"), (7, "destination", "used twice")])
    assert "row 3, column 'source'" in str(exc) and "row 7" in str(exc) and len(exc.problems) == 2


def test_config_error_names_key():
    assert str(gm.ConfigError("must be positive", key="migration.workers")) == "migration.workers: must be positive"


def test_secrets_never_show():
    auth = gm.BasicAuth("admin@example.org", "S3cr3t-Pa55")
    oauth = gm.OAuth2ClientCredentials("tenant", "client", "Cl1ent-S3cret")
    for obj in (auth, oauth, auth.password):
        assert "S3cr3t-Pa55" not in repr(obj) and "S3cr3t-Pa55" not in str(obj)
        assert "Cl1ent-S3cret" not in repr(obj)
    assert auth.password.reveal() == "S3cr3t-Pa55"
    assert oauth.effective_token_url == "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"
    with pytest.raises(TypeError):
        pickle.dumps(auth)
