"""Where batch targets come from: a file, or the IPAM's subscribers (each one's DNS name and addresses).

The subscribers arrive as the IPAM's own subscriber objects (``v6ops.ipam.service.list_subscribers``,
read by the CLI), so this package does not depend on the IPAM's internals.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from v6ops.probe.run import ProbeItem


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


def subscriber_targets(subscribers: Iterable[Mapping[str, Any]]) -> Iterator[str | ProbeItem]:
    """Per active subscriber: its addresses as one item (``subscriber/NAME``, both families compared,
    no DNS, as the seed's ``check_subscriber_connectivity`` pings them), then its DNS name, so the
    published A/AAAA are checked too."""
    for sub in subscribers:
        if sub["status"] != "active":
            continue
        addresses = tuple(a for a in (sub["ipv6_address"], sub["ipv4"]) if a)
        if addresses:
            yield ProbeItem(f"subscriber/{sub['name']}", addresses)
        if sub["dns_name"]:
            yield sub["dns_name"]
