"""Benchmark of content identity: ``fingerprint`` and ``content_fingerprint`` throughput on mail.

    .venv/bin/python benchmarks/dedup.py [--items 20000] [--mix small-mixed] [--seed 1]

Mails are generated as in the benchmark mailboxes (``_common.make_mime``, sizes drawn from the
mail size bands of ``--mix``; mail ``i`` depends only on ``(seed, i)``) and parsed with
``Message.from_mime`` (not timed); then each function is timed over them, chunk by chunk, so
that only one chunk of MIME is held at a time:

- ``fingerprint`` of the message as a destination lists it (properties only, no MIME), which
  is also what a message parsed by ``Message.from_mime`` costs;
- ``fingerprint`` of a message given as MIME only (``Message(mime=...)``: its header block
  is parsed for Message-ID, Date, From and Subject);
- ``content_fingerprint`` of the parsed message (the full MIME: headers, every part, attachments).

Rates are items/s and MIME bytes/s (the bytes of the messages' MIME; none for the listed
variant, which reads no MIME). Results: a table on stdout and benchmarks/results/dedup.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import EPOCH, MIXES, _pick_band, log, make_mime, mib, print_table, write_json  # noqa: E402

from groupmigrate.core.dedup import content_fingerprint, fingerprint  # noqa: E402
from groupmigrate.items import Message  # noqa: E402

CHUNK = 500
OWNER = "bench-owner@example.org"


def _mails(seed: int, mix: str, items: int) -> Iterator[bytes]:
    """The MIME of ``items`` generated mails."""
    bands = MIXES[mix]["mail_sizes"]
    for index in range(items):
        rng = random.Random(f"{seed}:dedup:{mix}:{index}")
        received = EPOCH - dt.timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
        yield make_mime(index, seed, _pick_band(rng, bands), received, OWNER, rng)


def _chunks(seed: int, mix: str, items: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for mime in _mails(seed, mix, items):
        chunk.append(mime)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _as_listed(message: Message) -> Message:
    """The message as a destination lists it: the properties, no MIME."""
    return Message(message_id=message.message_id, subject=message.subject, sender=message.sender,
                   sent=message.sent, size=message.size)  # fmt: skip


def _timed(fn: Callable[[Message], str], messages: list[Message]) -> float:
    start = time.perf_counter()
    for message in messages:
        fn(message)
    return time.perf_counter() - start


def run(items: int, mix: str, seed: int) -> dict[str, Any]:
    seconds = {"fingerprint_listed": 0.0, "fingerprint_mime_only": 0.0, "content_fingerprint": 0.0}
    count = mime_bytes = largest = 0
    for chunk in _chunks(seed, mix, items):
        parsed = [Message.from_mime(mime) for mime in chunk]
        listed = [_as_listed(message) for message in parsed]
        mime_only = [Message(mime=mime) for mime in chunk]
        seconds["fingerprint_listed"] += _timed(fingerprint, listed)
        seconds["fingerprint_mime_only"] += _timed(fingerprint, mime_only)
        seconds["content_fingerprint"] += _timed(content_fingerprint, parsed)
        count += len(chunk)
        mime_bytes += sum(len(mime) for mime in chunk)
        largest = max(largest, *(len(mime) for mime in chunk))
        if count % (CHUNK * 10) == 0:
            log(f"{count:,} / {items:,} messages")
    return {
        "parameters": {"items": count, "mix": mix, "seed": seed},
        "mime_bytes": mime_bytes,
        "mime_bytes_mean": round(mime_bytes / count),
        "mime_bytes_max": largest,
        "rates": {
            name: {
                "seconds": round(spent, 3),
                "items_per_s": round(count / spent),
                # the listed variant reads no MIME: a byte rate would mean nothing
                "mime_bytes_per_s": None if name == "fingerprint_listed" else round(mime_bytes / spent),
            }
            for name, spent in seconds.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=20_000, help="messages to fingerprint")
    parser.add_argument("--mix", default="small-mixed", choices=sorted(MIXES))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = run(args.items, args.mix, args.seed)
    labels = {
        "fingerprint_listed": "fingerprint (listed, no MIME)",
        "fingerprint_mime_only": "fingerprint (MIME only)",
        "content_fingerprint": "content_fingerprint",
    }
    rows: list[list[Any]] = [
        [labels[name], rate["items_per_s"], mib(rate["mime_bytes_per_s"]), f"{rate['seconds']:.3f}"]
        for name, rate in result["rates"].items()
    ]
    params = result["parameters"]
    title = (
        f"{params['items']:,} messages ({params['mix']}, seed {params['seed']}): "
        f"{mib(result['mime_bytes']):,.1f} MiB of MIME, mean {result['mime_bytes_mean'] / 1000:,.1f} KB"
    )
    print_table(["function", "items/s", "MiB/s", "seconds"], rows, title=title)
    path = write_json("dedup", result)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
