"""``v6ops serve-echo`` on real sockets: two listeners (:: IPv6-only and 0.0.0.0), each family seen as itself."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.probe.servers import echo_server


@pytest.mark.requires("ss")
def test_serve_echo_binds_both_families_explicitly():
    with echo_server(listen=("::", "0.0.0.0")) as port:
        listeners = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
        local = sorted(line.split()[3] for line in listeners.splitlines())
        assert local == [f"0.0.0.0:{port}", f"[::]:{port}"]  # IPV6_V6ONLY: :: does not also take IPv4
        v6 = httpx.get(f"http://[::1]:{port}/health").json()
        v4 = httpx.get(f"http://127.0.0.1:{port}/health").json()
    assert (v6["protocol"], v6["client_ip"]) == ("IPv6", "::1")
    assert (v4["protocol"], v4["client_ip"]) == ("IPv4", "127.0.0.1")


def test_serve_echo_trusts_forwarded_only_from_configured_proxies():
    with echo_server(listen=("::1", "127.0.0.1"), extra=["--trusted-proxy", "127.0.0.0/8"]) as port:
        headers = {"Forwarded": 'for="[2001:db8::7]:443"'}
        via_trusted = httpx.get(f"http://127.0.0.1:{port}/health", headers=headers)
        via_untrusted = httpx.get(f"http://[::1]:{port}/health", headers=headers)
    assert via_trusted.headers["x-client-ip"] == "2001:db8::7" and via_trusted.json()["protocol"] == "IPv6"
    assert via_untrusted.headers["x-client-ip"] == "::1"


def test_serve_echo_port_in_use_is_a_one_line_error():
    with echo_server(listen=("127.0.0.1",)) as port:
        result = subprocess.run([sys.executable, "-m", "v6ops.cli", "serve-echo", "--port", str(port), "--listen", "127.0.0.1"],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and f"cannot listen on [127.0.0.1]:{port}" in result.stderr
