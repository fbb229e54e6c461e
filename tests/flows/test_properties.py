"""Property tests against an independent oracle (the standard library's ipaddress)."""

from __future__ import annotations

import ipaddress
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from v6ops.flows.analyses import Options
from v6ops.flows.ingest import read_table
from v6ops.flows.pipeline import build_report

LINE = "2 123456789010 eni-1 {src} {dst} 40000 443 6 1 {bytes} 1767571200 1767571260 ACCEPT OK"


def _spellings(value: int) -> st.SearchStrategy[str]:
    address = ipaddress.IPv6Address(value)
    return st.sampled_from([
        address.compressed, address.compressed.upper(), address.exploded, address.exploded.upper(),
    ])


ipv6 = st.integers(min_value=0, max_value=2**128 - 1)
ipv4 = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(ipv6.flatmap(_spellings), ipv4.map(lambda v: str(ipaddress.IPv4Address(v)))),
                min_size=1, max_size=30))
def test_parsed_endpoints_equal_ipaddress(texts: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.log"
        path.write_text("".join(LINE.format(src=t, dst="2001:db8::1", bytes=1) + "\n" for t in texts))
        table, ingest = read_table([str(path)])
    assert ingest.rejections.total == 0
    for row, text in zip(table.to_pylist(), texts, strict=True):
        oracle = ipaddress.ip_address(text)
        mapped = getattr(oracle, "ipv4_mapped", None)
        expected = mapped or oracle
        assert row["src_family"] == expected.version
        assert (row["src_hi"] << 64) | row["src_lo"] == int(expected)


# Up to 25 /64s against a top list of 10, with byte counts from a small set so totals tie often:
# the cut-off and the tie-break (lower prefix first) are exercised in most examples.
TOP = 10
hosts = st.lists(st.tuples(st.integers(0, 24), st.integers(0, 2**64 - 1), st.sampled_from([1, 2, 3, 500])),
                 min_size=12, max_size=80)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts, st.data())
@example([(i, i, 1) for i in range(24, 0, -1)], None).via("every /64 tied, more of them than the top list holds")
def test_top_prefixes_equal_an_ipaddress_oracle(rows: list[tuple[int, int, int]], data: st.DataObject | None) -> None:
    """Hosts in up to 25 /64s, spelled at random: the /64 ranking equals one computed with ipaddress."""
    base = 0x20010DB8AB000000
    lines, by_64 = [], Counter[str]()
    for prefix, host, size in rows:
        value = ((base + prefix) << 64) | host
        text = data.draw(_spellings(value)) if data is not None else str(ipaddress.IPv6Address(value))
        lines.append(LINE.format(src=text, dst="192.0.2.1", bytes=size))
        by_64[str(ipaddress.IPv6Network((value >> 64 << 64, 64)))] += size
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.log"
        path.write_text("\n".join(lines) + "\n")
        report = build_report([str(path)], Options(top=TOP))
    got = [(r["key"], r["bytes"]) for r in report["top_talkers"]["source"]["/64"]]
    want = sorted(by_64.items(), key=lambda kv: (-kv[1], int(ipaddress.IPv6Network(kv[0]).network_address)))
    assert got == want[:TOP]
