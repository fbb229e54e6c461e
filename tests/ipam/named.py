"""A real BIND 9 ``named`` on a free loopback port, primary for the exported zones, updatable with a TSIG key."""

from __future__ import annotations

import base64
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query

from tests.ipam.freeradius import free_udp_port

KEY_NAME = "v6ops-test"


@dataclass
class Named:
    port: int
    key_secret: str
    zones: dict[str, str]


def named_conf(directory: Path, port: int, secret: str, zones: dict[str, str]) -> str:
    parts = [f'''options {{
  directory "{directory}";
  pid-file "{directory}/named.pid";
  session-keyfile "{directory}/session.key";
  managed-keys-directory "{directory}";
  listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  recursion no;
  dnssec-validation no;
  notify no;
  allow-transfer {{ key "{KEY_NAME}"; }};
}};
key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{secret}"; }};
controls {{ }};
''']
    for zone, file in zones.items():
        parts.append(f'zone "{zone}" {{ type primary; file "{file}"; '
                     f'update-policy {{ grant {KEY_NAME} zonesub ANY; }}; }};\n')
    return "".join(parts)


@contextmanager
def named(directory: Path, files: dict[str, str]) -> Iterator[Named]:
    """Start ``named -g`` with the zone files of ``v6ops ipam export dns`` (path -> content)."""
    zones = dict(re.findall(r'zone "([^"]+)" \{ type primary; file "([^"]+)"; \};', files["dns/named.conf.zones"]))
    for file in zones.values():
        (directory / file).write_text(files[f"dns/{file}"])
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    port = free_udp_port()
    conf = directory / "named.conf"
    conf.write_text(named_conf(directory, port, secret, zones))
    checked = subprocess.run(["named-checkconf", "-z", str(conf)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = (directory / "named.log").open("w")
    proc = subprocess.Popen(["named", "-g", "-4", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                dns.query.udp(dns.message.make_query(next(iter(zones)), "SOA"), "127.0.0.1", port=port, timeout=0.5)
                break
            except (OSError, dns.exception.Timeout):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("named did not start:\n" + (directory / "named.log").read_text()[-3000:]) from None
                time.sleep(0.1)
        yield Named(port, secret, zones)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
