"""A private rsyslogd for tests: its own config, work directory and pid file, loopback ports only."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"

_TEMPLATE = """
template(name="fields" type="list" option.jsonf="on") {
  property(outname="input" name="inputname" format="jsonf")
  property(outname="pri" name="pri" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
ruleset(name="r") { action(type="omfile" file="{out}" template="fields") }
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Rsyslog:
    """rsyslogd -n with imudp, imtcp (octet counting is on by default) and optionally imtcp over TLS (gtls)."""

    def __init__(self, directory: Path, tls: tuple[Path, Path] | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.out = self.dir / "received.jsonl"
        self.udp_port, self.tcp_port = free_port(socket.SOCK_DGRAM), free_port()
        self.tls_port = free_port() if tls else 0
        lines = [f'global(workDirectory="{self.dir}" maxMessageSize="64k"'
                 + (f' DefaultNetstreamDriverCAFile="{tls[0]}" DefaultNetstreamDriverCertFile="{tls[0]}"'
                    f' DefaultNetstreamDriverKeyFile="{tls[1]}"' if tls else "") + ")",
                 'module(load="imudp")',
                 'module(load="imtcp" MaxSessions="50")',
                 f'input(type="imudp" address="127.0.0.1" port="{self.udp_port}" ruleset="r")',
                 f'input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="r")']
        if tls:
            lines.append(f'input(type="imtcp" address="127.0.0.1" port="{self.tls_port}" ruleset="r" name="tls"'
                         ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")')
        self.conf = self.dir / "rsyslog.conf"
        self.conf.write_text("\n".join(lines) + _TEMPLATE.replace("{out}", str(self.out)))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Rsyslog:
        check = subprocess.run([RSYSLOGD, "-N1", "-f", str(self.conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr + check.stdout
        with open(self.dir / "stderr", "ab") as errors:
            self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.dir / "pid")],
                                         stdout=subprocess.DEVNULL, stderr=errors)
        for port in (self.tcp_port, self.tls_port):
            if port:
                self._wait_tcp(port)
        self._wait_udp()
        return self

    def _wait_tcp(self, port: int) -> None:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                assert self.proc is not None and self.proc.poll() is None, (self.dir / "stderr").read_text()
                time.sleep(0.05)
        raise AssertionError(f"rsyslogd did not listen on tcp {port}")

    def _wait_udp(self) -> None:
        """UDP has no handshake: send probes until one is written out, then forget them."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(200):
                s.sendto(b"<14>1 - - probe - - - ready", ("127.0.0.1", self.udp_port))
                if any(r["app"] == "probe" for r in self.records(include_probes=True)):
                    return
                time.sleep(0.05)
        raise AssertionError("rsyslogd did not receive on udp")

    def records(self, include_probes: bool = False) -> list[dict[str, str]]:
        if not self.out.exists():
            return []
        rows = [json.loads(line) for line in self.out.read_text().splitlines() if line.endswith("}")]
        return rows if include_probes else [r for r in rows if r["app"] != "probe"]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, str]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            rows = self.records()
            if len(rows) >= count:
                return rows
            time.sleep(0.05)
        return self.records()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None
