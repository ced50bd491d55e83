"""Server profiles (what kind of server to imitate) and knobs (behaviours switchable at run time)."""

from __future__ import annotations

import random
import threading
from typing import Optional

import attrs

__all__ = ["Knobs", "Profile", "PROFILES", "EXCHANGE_VERSIONS"]

#: RequestServerVersion values in release order.
EXCHANGE_VERSIONS = (
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2009",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2012",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
)

#: Well-known folder names the Exchange Online service schema knows beyond the published schema.
EXCHANGE_ONLINE_EXTRA_FOLDERS = (
    "allcategorizeditems",
    "allcontacts",
    "allitems",
    "allpersonmetadata",
    "companycontacts",
    "dlppolicyevaluation",
    "fromfavoritesenders",
    "inference",
    "onenotepagepreviews",
    "peoplecentricconversationbuddies",
    "qedcdefaultretention",
    "qedclongretention",
    "qedcmediumretention",
    "qedcshortretention",
    "quarantinedemail",
    "quarantinedemaildefaultcategory",
    "recoverableitemssubstrateholds",
    "relevantcontacts",
    "sharepointnotifications",
    "shortnotes",
    "temporarysaves",
    "usercuratedcontacts",
)


@attrs.frozen
class Profile:
    """What kind of server the test server imitates.

    Attributes:
        name: ``exchange``, ``exchange-online``, ``workmail`` or ``generic``.
        build: (major, minor, major build, minor build) reported in ``ServerVersionInfo``.
        version: the ``Version`` attribute of ``ServerVersionInfo``.
        accepted_versions: RequestServerVersion values accepted; others get ErrorInvalidServerVersion.
        export_upload: whether ExportItems/UploadItems exist.
        max_concurrency: concurrent requests per mailbox before ErrorServerBusy (EWSMaxConcurrency).
        find_item_limit: the most items one FindItem page returns (EWSFindCountLimit).
        extra_distinguished: well-known folder names the server's schema adds.
        archive_folder: whether new mailboxes get an "Archive" mail folder.
        keeps_named_properties: whether CreateItem keeps named extended properties
            (PropertySetId + PropertyName); the ``generic`` server drops them.
    """

    name: str
    build: tuple[int, int, int, int]
    version: str
    accepted_versions: tuple[str, ...] = EXCHANGE_VERSIONS
    export_upload: bool = False
    max_concurrency: Optional[int] = None
    find_item_limit: Optional[int] = None
    extra_distinguished: tuple[str, ...] = ()
    archive_folder: bool = False
    fractional_seconds: bool = False
    reject_invalid_urls: bool = False
    reject_x500: bool = False
    max_item_size: Optional[int] = None
    keeps_named_properties: bool = True

    @property
    def version_info(self) -> dict[str, str]:
        major, minor, mbuild, nbuild = self.build
        return {
            "MajorVersion": str(major),
            "MinorVersion": str(minor),
            "MajorBuildNumber": str(mbuild),
            "MinorBuildNumber": str(nbuild),
            "Version": self.version,
        }


PROFILES: dict[str, Profile] = {
    "exchange": Profile(
        name="exchange",
        build=(15, 1, 2507, 6),  # Exchange 2016 CU23
        version="Exchange2016",
        export_upload=True,
        max_item_size=150 * 1024 * 1024,
    ),
    "exchange-online": Profile(
        name="exchange-online",
        build=(15, 20, 8769, 25),
        version="V2018_01_08",
        export_upload=True,
        max_concurrency=27,
        find_item_limit=1000,
        extra_distinguished=EXCHANGE_ONLINE_EXTRA_FOLDERS,
        archive_folder=True,
        fractional_seconds=True,
        max_item_size=150 * 1024 * 1024,
    ),
    "workmail": Profile(
        name="workmail",
        build=(14, 3, 0, 0),
        version="Exchange2010_SP2",
        accepted_versions=("Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2"),
        reject_invalid_urls=True,
        reject_x500=True,
        max_item_size=25 * 1024 * 1024,
    ),
    "generic": Profile(name="generic", build=(15, 1, 2507, 6), version="Exchange2016", keeps_named_properties=False),
}


@attrs.define
class Knobs:
    """Behaviours of real servers, switchable at any time while the server runs.

    Rates are fractions of requests (0.0 to 1.0); which requests are hit is decided by a
    random generator seeded with ``fault_seed``, so a run is repeatable.

    Attributes:
        latency: seconds added to every request.
        throttle_rate: fraction answered ErrorServerBusy with BackOffMilliseconds.
        backoff_ms: the BackOffMilliseconds value sent with ErrorServerBusy.
        http503_rate: fraction answered HTTP 503.
        retry_after: Retry-After seconds sent with 503 answers (None: no header).
        http500_rate: fraction answered HTTP 500 with the ASP.NET "Server Error in '/EWS' Application" page.
        reset_rate: fraction whose connection is reset without an answer.
        lost_answer_rate: fraction of write requests that are carried out and whose answer is
            then lost (the connection reset, or ``lost_answer_status`` sent instead of the answer).
        lost_answer_status: None: lost answers are connection resets; else the HTTP status of
            the gateway error page sent in their place (e.g. 504).
        lose_answers: the next this many write requests are carried out and their answers
            lost as with ``lost_answer_rate`` (counts down).
        partial_batch_rate: fraction of CreateItem batches in which one item fails with a transient error.
        fault_seed: seed of the fault generator; setting it restarts the sequence.
        close_connections: answer with ``Connection: close`` and close after each response.
        max_item_size: CreateItem of a bigger item fails with ErrorMessageSizeExceeded (None: no limit).
        fractional_seconds: write server-set timestamps with milliseconds.
        drop_inline_attachments: CreateItem silently drops ``<Attachments>`` sent inline with typed items.
        reject_invalid_urls: CreateItem of a contact whose BusinessHomePage is not a valid URL fails.
        reject_x500: CreateItem with an X500/EX address (``/o=...``) in a mailbox field fails.
        hang: accept requests and never answer them.
        answer_html: answer every EWS request with an HTML login page and HTTP 200.
        answer_invalid_xml: answer every EWS request with broken XML and HTTP 200.
        basic_auth: accept HTTP Basic authentication.
        token_lifetime: seconds an issued OAuth token is valid (``expires_in``).
        max_concurrency: concurrent requests per mailbox before ErrorServerBusy (None: no limit).
        keeps_named_properties: False: CreateItem silently drops named extended properties
            (PropertySetId/PropertyName), as a server that cannot keep them does.
        long_fractions: every timestamp of an item, nested ones too, is answered with 20
            fraction digits (``...T11:59:00.18446744073709551600Z``), as one real server sends.
        attendees_need_all_properties: a calendar item's attendees come back only to a request
            for every property (AllProperties, or most properties named), as a real server did.
        original_start_at_midnight: a modified occurrence's OriginalStart/RecurrenceId is
            reported at local midnight of its day (series' time zone), as a real server does.
        fold_resources: CreateItem stores resource attendees as required attendees.
        mailbox_quota_bytes: every mailbox's quota; GetFolder/FindFolder of its top folder
            (msgfolderroot) then tell its size (PidTagMessageSizeExtended 0x0E08, the sum of
            its items' sizes) and the quota in KB, rounded down (PidTagProhibitReceiveQuota
            0x666A, PidTagProhibitSendQuota 0x666E, PR_STORAGE_QUOTA_LIMIT 0x3FF5) when asked
            for them by tag. None: these properties are not told.
        (The first three are applied in :mod:`.quirks`.)
    """

    latency: float = 0.0
    throttle_rate: float = 0.0
    backoff_ms: int = 50
    http503_rate: float = 0.0
    retry_after: Optional[int] = None
    http500_rate: float = 0.0
    reset_rate: float = 0.0
    lost_answer_rate: float = 0.0
    lost_answer_status: Optional[int] = None
    lose_answers: int = 0
    partial_batch_rate: float = 0.0
    _fault_seed: int = attrs.field(default=0, alias="fault_seed")
    close_connections: bool = False
    max_item_size: Optional[int] = None
    fractional_seconds: bool = False
    drop_inline_attachments: bool = False
    reject_invalid_urls: bool = False
    reject_x500: bool = False
    hang: bool = False
    answer_html: bool = False
    answer_invalid_xml: bool = False
    basic_auth: bool = True
    token_lifetime: int = 3599
    max_concurrency: Optional[int] = None
    keeps_named_properties: bool = True
    long_fractions: bool = False
    attendees_need_all_properties: bool = False
    original_start_at_midnight: bool = False
    fold_resources: bool = False
    mailbox_quota_bytes: Optional[int] = None
    _rng: random.Random = attrs.field(factory=lambda: random.Random(0), init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self._fault_seed)

    @property
    def fault_seed(self) -> int:
        return self._fault_seed

    @fault_seed.setter
    def fault_seed(self, value: int) -> None:
        with self._lock:
            self._fault_seed = value
            self._rng = random.Random(value)

    def roll(self, rate: float) -> bool:
        """Draw once from the fault generator: True with probability ``rate``."""
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def lose_answer(self) -> bool:
        """Whether the answer to a write just carried out is to be lost."""
        with self._lock:
            if self.lose_answers > 0:
                self.lose_answers -= 1
                return True
        return self.roll(self.lost_answer_rate)

    def pick(self, n: int) -> int:
        """Draw an index in ``range(n)`` from the fault generator."""
        with self._lock:
            return self._rng.randrange(n)

    @classmethod
    def for_profile(cls, profile: Profile) -> Knobs:
        """The defaults a profile starts with."""
        return cls(
            fractional_seconds=profile.fractional_seconds,
            reject_invalid_urls=profile.reject_invalid_urls,
            reject_x500=profile.reject_x500,
            max_item_size=profile.max_item_size,
            max_concurrency=profile.max_concurrency,
            keeps_named_properties=profile.keeps_named_properties,
        )
