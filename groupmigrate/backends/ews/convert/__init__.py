"""Conversion between exchangelib items and groupmigrate's neutral items, one module per item type.

Each module offers ``FIELDS`` (the exchangelib field names a fetch asks for),
``to_neutral(...)`` and ``to_ews(...)``; ``to_ews`` returns the exchangelib item and a list
of warnings (what could not be carried over).
"""
