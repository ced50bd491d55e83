"""Test doubles that ship with groupmigrate: an EWS test server and a backend conformance suite."""
