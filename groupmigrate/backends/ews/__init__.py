"""EWS backends (exchangelib)."""
