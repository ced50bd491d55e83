"""Conversion between exchangelib items and groupmigrate's neutral items, one module per item type.

Each module offers ``FIELDS`` (the exchangelib field names a fetch asks for),
``to_neutral(...)`` and ``to_ews(...)``; ``to_ews`` returns the exchangelib item and a list
of warnings (what could not be carried over). :mod:`.vocabulary` translates the neutral
enums (importance, flag, task status, free/busy, sensitivity, attendee response, note colour,
message kind) to and from EWS's values: the one place the backend spells them.
"""
