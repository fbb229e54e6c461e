"""The capture reader for every link type and both file formats, and what happens to damage."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1Q, Ether
from scapy.utils import PcapNgWriter, PcapWriter

from tests.policy.engine_helpers import strict_policy
from v6ops.policy.batch import evaluate_capture
from v6ops.policy.evaluator import Evaluator, evaluate_frames
from v6ops.policy.pcap import CaptureError, read_capture

PKTS = [IPv6(src="2001:db8:1::1", dst="2001:db8:1::2") / UDP(dport=53) / b"a",
        IPv6(src="2001:db8:1::1", dst="2001:db8:1::2") / TCP(dport=443, flags="S")]
WIRE = [bytes(p) for p in PKTS]


def _write(path: Path, frames: list[object], linktype: int | None = None, ng: bool = False,
           endian: str = "=", nano: bool = False) -> Path:
    if linktype is not None and (linktype == 0 or ng):  # scapy: 0 means "guess", pcapng has no linktype option
        return _write_by_hand(path, [bytes(f) for f in frames], linktype, ng)  # type: ignore[arg-type]
    writer_cls = PcapNgWriter if ng else PcapWriter
    kwargs: dict[str, object] = {"linktype": linktype} if linktype is not None else {}
    if not ng:
        kwargs.update(endianness=endian, nano=nano)
    writer = writer_cls(str(path), **kwargs)
    for i, f in enumerate(frames):
        if isinstance(f, bytes | bytearray):
            from scapy.packet import Raw

            f = Raw(f)
        f.time = 1_700_000_000 + i / 1000  # type: ignore[attr-defined]
        writer.write(f)
    writer.close()
    return path


def _write_by_hand(path: Path, frames: list[bytes], linktype: int, ng: bool) -> Path:
    if not ng:
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
        for i, f in enumerate(frames):
            out.append(struct.pack("<IIII", 1_700_000_000, i * 1000, len(f), len(f)) + f)
        path.write_bytes(b"".join(out))
        return path

    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", linktype, 0, 65535))]
    for i, f in enumerate(frames):
        ticks = 1_700_000_000 * 1_000_000 + i * 1000
        out.append(block(6, struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(f), len(f)) + f))
    path.write_bytes(b"".join(out))
    return path


@pytest.mark.parametrize(("name", "frames", "linktype"), [
    ("ethernet", [Ether() / p for p in PKTS], None),
    ("vlan", [Ether() / Dot1Q(vlan=100) / p for p in PKTS], None),
    ("sll", [CookedLinux(proto=0x86DD) / p for p in PKTS], None),
    ("sll2", [CookedLinuxV2(proto=0x86DD) / p for p in PKTS], None),
    ("raw", WIRE, 101),
    ("ipv6", WIRE, 229),
    ("null", [b"\x1e\x00\x00\x00" + w for w in WIRE], 0),
    ("loop", [b"\x00\x00\x00\x18" + w for w in WIRE], 108),
])
@pytest.mark.parametrize("ng", [False, True])
def test_every_link_type_yields_the_ip_packet(tmp_path: Path, name: str, frames: list[object],
                                              linktype: int | None, ng: bool) -> None:
    path = _write(tmp_path / f"{name}.cap", frames, linktype, ng)
    got = list(read_capture(path))
    assert [f.ip for f in got] == WIRE
    assert [f.problem for f in got] == ["", ""]
    assert got[1].timestamp_ns - got[0].timestamp_ns == pytest.approx(1_000_000, abs=2000)


@pytest.mark.parametrize(("endian", "nano"), [("<", False), (">", False), ("<", True), (">", True)])
def test_pcap_byte_orders_and_nanosecond_timestamps(tmp_path: Path, endian: str, nano: bool) -> None:
    path = _write(tmp_path / "x.pcap", [Ether() / p for p in PKTS], endian=endian, nano=nano)
    got = list(read_capture(path))
    assert [f.ip for f in got] == WIRE
    assert got[0].timestamp_ns == pytest.approx(1_700_000_000 * 10**9, abs=1000)


def test_truncated_file_reports_the_cut_and_evaluates_the_rest(tmp_path: Path) -> None:
    whole = _write(tmp_path / "w.pcap", [Ether() / p for p in PKTS])
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole.read_bytes()[:-10])
    frames = list(read_capture(cut))
    assert frames[0].ip == WIRE[0]
    assert frames[1].ip is None and "past the end of the file" in frames[1].problem
    evaluator = Evaluator(strict_policy())
    verdicts = list(evaluate_frames(evaluator, read_capture(cut)))
    assert [(v.verdict, v.rule) for v in verdicts] == [("accept", "policy-accept"), ("drop", "malformed")]
    assert evaluator.counters["malformed"] == 1
    batched = Evaluator(strict_policy())
    batch = evaluate_capture(batched, cut)
    assert batch.rules == ["policy-accept", "malformed"]
    assert batched.counters == {"policy-accept": 1, "malformed": 1}


def test_snaplen_truncated_and_inconsistent_packets_are_malformed_drops(tmp_path: Path) -> None:
    bad_length = bytearray(WIRE[0])
    bad_length[4:6] = (900).to_bytes(2, "big")
    v6 = Ether(type=0x86DD)
    frames = [v6 / WIRE[0][:30], v6 / bytes(bad_length), v6 / b"\x60", Ether() / ARP(), v6 / WIRE[1]]
    path = _write(tmp_path / "m.pcap", frames)
    evaluator = Evaluator(strict_policy())
    got = [(v.verdict, v.rule) for v in evaluate_frames(evaluator, read_capture(path))]
    assert got == [("drop", "malformed")] * 3 + [("not-ip", "non-ip"), ("accept", "policy-accept")]
    assert evaluator.counters["malformed"] == 3 and evaluator.counters["non-ip"] == 1
    batched = Evaluator(strict_policy())
    batch = evaluate_capture(batched, path)
    assert [*zip(batch.verdicts, batch.rules, strict=True)] == got
    assert batched.counters == evaluator.counters
    assert len(batched.events()) == len(evaluator.events()) == 3


def test_not_a_capture_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("hello world, not a pcap")
    with pytest.raises(CaptureError, match="not a pcap or pcapng"):
        list(read_capture(path))


def test_cli_evaluate_json_counts_malformed(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("profile: medium\nsource_validation:\n  allowed_ingress_prefixes: ['2001:db8:1::/64']\n")
    whole = _write(tmp_path / "w.pcap", [Ether() / p for p in PKTS])
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole.read_bytes()[:-10])
    done = subprocess.run([sys.executable, "-m", "v6ops.cli", "policy", "evaluate", "--policy", str(policy),
                           str(cut), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["malformed"] == 1
    assert report["packets"][1]["verdict"] == "drop" and report["packets"][1]["rule"] == "malformed"
    table = subprocess.run([sys.executable, "-m", "v6ops.cli", "policy", "evaluate", "--policy", str(policy),
                            str(cut)], capture_output=True, text=True)
    assert table.returncode == 0 and "malformed" in table.stdout
    missing = subprocess.run([sys.executable, "-m", "v6ops.cli", "policy", "evaluate", "--policy", str(policy),
                              str(tmp_path / "nope.pcap")], capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.pcap" in missing.stderr
