"""The migration engine, in the order data flows through it.

- :mod:`~groupmigrate.core.planner`: check, analyze, open accounts, map folders, list
  items and decide per folder what is to be done (new, repaired, retried, already there);
- :mod:`~groupmigrate.core.pipeline`: pure steps per item: map → sanitize → identity
  (provenance stamp, content fingerprint, label);
- :mod:`~groupmigrate.core.executor`: the only owner of retries, waits, adaptive
  concurrency and the reconciliation of writes whose outcome is unknown;
- :mod:`~groupmigrate.core.verifier`: per-folder reconciliation of source, destination
  and the state's id map.

:class:`groupmigrate.Migrator` wires them together; none of them knows a protocol.
"""
