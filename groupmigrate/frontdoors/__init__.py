"""The front doors: how people and programs drive the core.

- :mod:`~groupmigrate.frontdoors.cli`: the ``groupmigrate`` command;
- :mod:`~groupmigrate.frontdoors.config`: the TOML configuration file;
- :mod:`~groupmigrate.frontdoors.demo`: the demo migration on the built-in test servers;
- :mod:`~groupmigrate.frontdoors.notify`: submission, start and end mails and webhooks.

Reports (:mod:`groupmigrate.core.report`) are the core's result type and live there.
"""
