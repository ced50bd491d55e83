"""groupmigrate: move whole mailboxes between groupware servers."""

from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials, Secret, TokenProvider
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import (
    AccessDenied,
    AccessError,
    AccountsFileError,
    AuthenticationError,
    ConfigError,
    ConnectionFailed,
    GroupmigrateError,
    ItemRejected,
    MailboxNotFound,
    SourceIsReadOnly,
    StateError,
    Throttled,
    TransientError,
)
from groupmigrate.items import (
    ALL_ITEM_TYPES,
    Attachment,
    Attendee,
    Contact,
    Event,
    Folder,
    ItemRef,
    Mailbox,
    Message,
    Note,
    Phone,
    PostalAddress,
    Task,
)

__version__ = "0.1.0"
