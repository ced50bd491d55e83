"""vCard 3.0 / 4.0 <-> :class:`~groupmigrate.items.Contact` (contacts and distribution lists).

Writing gives one vCard (UTF-8, CRLF line ends, lines folded at 75 octets, text values
escaped) for a CardDAV address book; reading takes a vCard as CardDAV servers and clients
write it (Apple, Google, Nextcloud, Outlook, Evolution; versions 2.1, 3.0 and 4.0) and
returns the neutral contact plus warnings for what could not be kept.

This module is the entry point and holds the field table; writing lives in
:mod:`.vcard_write`, reading in :mod:`.vcard_read` (whole card) and :mod:`.vcard_read_fields`
(phones, addresses, dates, related people, members, photo ...), what both share in
:mod:`.vcard_text` (property names, escaping, folding, content lines) and :mod:`.vcard_types`
(label and TYPE vocabularies).

How vobject is used
-------------------
vobject is what Radicale parses and stores cards with, so it is the yardstick here: every
card written is parsed back with ``vobject.readOne`` and validated before it is returned
(a :class:`VCardError` otherwise). Lines are split, unfolded and their parameters, groups
(``item1.EMAIL``) and quoted-printable values decoded by vobject's content-line layer
(``vobject.base.getLogicalLines`` / ``textLineToContentLine``). vobject's *value* layer is
not used: it knows vCard 3.0 only and reads every text value as a comma-separated list,
keeping the first entry, so it cuts a text with an unescaped comma (vCard 2.1 NOTE, many
URLs) and a vCard 4.0 ``data:`` photo URI at their first comma; it also cannot write an ORG
whose fields hold commas. Values are escaped and unescaped here, per version.

A consequence for Radicale with vobject < 1.0 (which advertises vCard 3.0 only in
``supported-address-data``): Radicale re-serialises each card it stores through vobject. A
3.0 card written here survives that unchanged in meaning (every comma in a value is escaped,
the photo is ``ENCODING=b``). A 4.0 card loses its photo there (the ``data:`` URI is cut to
``data:image/png\\;base64``) and any URI value holding a comma; write 3.0 to such a server.
Reading such a mangled photo back gives a warning, never an error.

Field mapping
-------------
=========================  ==============================================  ==============================================
model field                vCard 3.0                                       vCard 4.0
=========================  ==============================================  ==============================================
(the ``uid`` argument)     UID                                             UID
display_name               FN                                              FN
(display_name None)        FN derived from name / company / file_as /      as 3.0
                           first e-mail, marked
                           ``X-GROUPMIGRATE-DERIVED=TRUE`` (read back as
                           None while FN still equals that derivation)
surname, given_name,       N (family;given;additional;-;suffix); always    N, written when a part or file_as is set
middle_name, generation    written (3.0 requires it); a list without
                           name parts gets ``N:<FN>;;;;`` (Apple style)
file_as                    SORT-STRING                                     SORT-AS parameter on N
nickname                   NICKNAME                                        NICKNAME
company, department        ORG (company;department)                        ORG
job_title / profession     TITLE / ROLE                                    TITLE / ROLE
emails, email_names        EMAIL;TYPE=INTERNET (first also PREF), in       EMAIL (first PREF=1); name in X-CN
                           order; the name in parameter X-CN (RFC 6868
                           ^-escapes)
phones                     TEL with TYPE by label (table below); a label   TEL with TYPE (table below)
                           TYPE cannot tell apart gets a grouped
                           ``itemN.X-ABLabel`` (Apple's custom label)
addresses                  ADR;TYPE=WORK / HOME / POSTAL (other); the      ADR;TYPE=work / home / none (other);
                           mailing one adds PREF to TYPE                   mailing one PREF=1
websites /                 URL;TYPE=WORK / URL;TYPE=HOME                   URL;TYPE=work / URL;TYPE=home
personal_homepage
birthday                   BDAY:YYYY-MM-DD                                 BDAY:YYYYMMDD
wedding_anniversary        X-ANNIVERSARY:YYYY-MM-DD                        ANNIVERSARY:YYYYMMDD
notes                      NOTE                                            NOTE
categories                 CATEGORIES                                      CATEGORIES
photo                      PHOTO;ENCODING=b;TYPE=JPEG/PNG/GIF/...          PHOTO:data:image/...;base64,...
                           (type from the bytes' signature)
im_addresses               IMPP (with a URI scheme, e.g. ``sip:``);        as 3.0
                           X-MS-IMADDRESS (a bare address)
manager                    X-MS-MANAGER                                    RELATED;TYPE=co-worker,x-manager;VALUE=text
assistant_name             X-MS-ASSISTANT                                  RELATED;TYPE=agent;VALUE=text
spouse_name                X-MS-SPOUSE                                     RELATED;TYPE=spouse;VALUE=text
children                   X-MS-CHILD, one per child, in order             RELATED;TYPE=child;VALUE=text, one each
office_location            X-MS-OFFICE                                     X-MS-OFFICE
initials                   X-GROUPMIGRATE-INITIALS                         X-GROUPMIGRATE-INITIALS
attachments                X-GROUPMIGRATE-ATTACHMENT;X-FILENAME=..;        as 3.0
                           X-MEDIATYPE=..[;X-CONTENT-ID=..][;X-INLINE=
                           TRUE]:<base64> (text value: survives vobject)
is_distribution_list       X-ADDRESSBOOKSERVER-KIND:group (Apple)          KIND:group
members, member_names      X-ADDRESSBOOKSERVER-MEMBER;X-CN=<name>:         MEMBER;X-CN=<name>:mailto:<address>, or
                           mailto:<address>, or ``urn:uuid:<UID>`` with    ``urn:uuid:<UID>`` with X-EMAIL as 3.0
                           X-EMAIL=<address> where ``member_uid`` names
                           a card; X-GROUPMIGRATE-MEMBER for a member
                           that is no address
(the ``stamp`` argument)   X-GROUPMIGRATE-PROVENANCE                       X-GROUPMIGRATE-PROVENANCE
=========================  ==============================================  ==============================================

Phone labels (TYPE values; "+ label" adds ``itemN.X-ABLabel`` with the label's name):

================  =======================  ==================
neutral label     vCard 3.0                vCard 4.0
================  =======================  ==================
business          WORK,VOICE               work,voice
business2         WORK,VOICE (+ label)     work,voice (+ label)
home              HOME,VOICE               home,voice
home2             HOME,VOICE (+ label)     home,voice (+ label)
mobile            CELL,VOICE               cell,voice
business_fax      WORK,FAX                 work,fax
home_fax          HOME,FAX                 home,fax
other_fax         FAX                      fax
pager             PAGER                    pager
car               CAR,VOICE                voice + label
other             VOICE                    voice
primary           VOICE,PREF               voice; PREF=1
assistant         VOICE + label            voice + label
company           WORK,VOICE + label       work,voice + label
callback          VOICE + label            voice + label
isdn              ISDN                     voice + label
radio             VOICE + label            voice + label
telex             (none) + label           (none) + label
tty               (none) + label           textphone
================  =======================  ==================

A label is written only where a reader could not get the neutral label back from TYPE; the
reader takes a known label first, TYPE otherwise, and reads a second plain work / home
number as business2 / home2 (so business2 and home2 carry a label only when no business /
home number comes before them). Labels outside this vocabulary are written as their text in
X-ABLabel with TYPE=VOICE and read back as ``other``; the aliases ``work``, ``cell``,
``fax``, ``main`` are written as business, mobile, business_fax, primary.

Reading also takes: ``TYPE=pref`` and ``PREF=n`` (the most preferred e-mail address comes
first; the most preferred address is the mailing one), lower-case and 2.1-style bare types
(``TEL;WORK;VOICE``), Apple's grouped labels (``_$!<Mobile>!$_`` ...), ``X-ABRELATEDNAMES``
and ``X-ABDATE`` (anniversary), ``BDAY;X-APPLE-OMIT-YEAR``, Outlook's ``X-MS-TEL``,
``X-MS-ANNIVERSARY``, ``X-MS-SPOUSE;N`` ..., Evolution's ``X-EVOLUTION-*`` (anniversary,
file-as, office, manager, assistant, spouse, lists), KAddressBook's names, ``X-AIM`` /
``X-JABBER`` / ``X-SKYPE`` ... as IM URIs, photos as ``data:`` URIs, with ``ENCODING=b`` or
``BASE64``, quoted-printable values, Windows-1252 or UTF-16 files. Google's system label
``myContacts`` is not taken as a category.

What is lost
------------
Nothing of the model, either version, written and read back here (the 3.0 card also after
vobject re-serialised it). The X- properties are ours or Outlook's: other clients do not show
them (most keep them when they edit the card); attachments and e-mail display names are
seen by this converter only. Reading foreign cards leaves out, with a warning: the N prefix
("Dr.", the model has no field for it; it is usually part of FN), a photo given by URL (not
fetched), an unreadable or cut photo, a date that is no date, RELATED kinds the model has no
field for (friend, parent ...), a second manager / assistant / spouse, an unresolvable
member or RELATED reference. Left out silently: LOGO, GEO, KEY, TZ, LANG, GENDER, LABEL,
e-mail types (work / home: the model's addresses carry none), phone labels outside the
vocabulary (read as their TYPE says), extra photos, vendor properties with no model field.
Folded into other fields: ORG units past the department (joined into it with ", "), the ADR
extended address and post-office box (appended to street, one per line), several NOTEs
(joined with a blank line). A birthday or anniversary without a year is kept with the year
1604 (Apple's convention) and written back without one.
"""

from __future__ import annotations

from groupmigrate.backends.dav.vcard_read import (
    Resolver as Resolver,
    vcard_is_group,
    vcard_member_refs,
    vcard_stamp,
    vcard_to_contact,
    vcard_to_contact_with_warnings,
    vcard_uid,
)
from groupmigrate.backends.dav.vcard_text import PRODID, STAMP_PROPERTY, YEARLESS, VCardError
from groupmigrate.backends.dav.vcard_write import contact_to_vcard

__all__ = [
    "PRODID",
    "STAMP_PROPERTY",
    "YEARLESS",
    "VCardError",
    "contact_to_vcard",
    "vcard_is_group",
    "vcard_member_refs",
    "vcard_stamp",
    "vcard_to_contact",
    "vcard_to_contact_with_warnings",
    "vcard_uid",
]
