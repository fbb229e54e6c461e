"""Where batch targets come from: a file, or the IPAM's subscribers (each one's DNS name and addresses)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from v6ops.ipam.service import MAX_LIST, list_subscribers
from v6ops.probe.run import ProbeItem
from v6ops.store.db import Store


class TargetsFileError(ValueError):
    """A targets file that cannot be read; the message names it."""


def read_targets(path: Path) -> list[str]:
    """One target per line; blank lines and '#' comments are skipped (bad targets are reported per target later)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise TargetsFileError(f"targets file {str(path)!r}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise TargetsFileError(f"targets file {str(path)!r} is not UTF-8 text: {exc.reason}") from exc
    return [stripped for line in lines if (stripped := line.split("#", 1)[0].strip())]


def ipam_targets(store: Store) -> Iterator[str | ProbeItem]:
    """Per subscriber: its addresses as one item (``subscriber/NAME``, both families compared, no DNS),
    then its DNS name (so the published A/AAAA are checked too), as the seed's
    ``check_subscriber_connectivity`` does for the addresses."""
    offset = 0
    while page := list_subscribers(store, MAX_LIST, offset):
        for sub in page:
            addresses = tuple(a for a in (sub["ipv6_address"], sub["ipv4"]) if a)
            if addresses and sub["status"] == "active":
                yield ProbeItem(f"subscriber/{sub['name']}", addresses)
            if sub["dns_name"] and sub["status"] == "active":
                yield sub["dns_name"]
        offset += len(page)
