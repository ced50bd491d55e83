"""The EWS test server."""
