"""The loopback lab shared by the probe tests: a DNS server and serve-echo on ::1 and 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.probe.servers import dns_server, echo_server


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("lab")
    with echo_server() as web, dns_server([
        "dual.test=A:127.0.0.1", "dual.test=AAAA:::1",
        "v4.test=A:127.0.0.1", "v6.test=AAAA:::1",
        "broken6.test=A:127.0.0.1", "broken6.test=AAAA:::1",
        "empty.test=TXT:nothing",
        "ipv4only.arpa=A:192.0.0.170",
    ], tmp=tmp) as dns:
        yield {"web": web, "dns": dns}
