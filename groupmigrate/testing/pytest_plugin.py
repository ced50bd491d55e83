"""pytest plugin: EWS test server fixtures (see groupmigrate.testing)."""
