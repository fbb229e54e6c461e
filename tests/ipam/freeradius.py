"""A real FreeRADIUS 3.2 (rlm_sql on PostgreSQL) started on a free loopback UDP port, config in a temp dir."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

SECRET = b"v6ops-test-secret"
MODS_CONFIG = "/etc/freeradius/3.0/mods-config"

# Only the attributes the tests send or read, in pyrad's dictionary syntax (RFC 2865, 3162, 4818, 6911).
PYRAD_DICTIONARY = """\
ATTRIBUTE	User-Name	1	string
ATTRIBUTE	User-Password	2	string	encrypt=1
ATTRIBUTE	NAS-IP-Address	4	ipaddr
ATTRIBUTE	Framed-IP-Address	8	ipaddr
ATTRIBUTE	Reply-Message	18	string
ATTRIBUTE	Framed-Route	22	string
ATTRIBUTE	Framed-IPv6-Prefix	97	ipv6prefix
ATTRIBUTE	Delegated-IPv6-Prefix	123	ipv6prefix
ATTRIBUTE	Framed-IPv6-Address	168	ipv6addr
"""

RADIUSD_CONF = """\
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {dir}
raddbdir = {dir}
radacctdir = {dir}
name = freeradius
confdir = {dir}
modconfdir = {mods}
run_dir = {dir}
db_dir = {dir}
libdir = /usr/lib/freeradius
pidfile = {dir}/radiusd.pid
max_request_time = 10
cleanup_delay = 0
max_requests = 1024
hostname_lookups = no
log {{
  destination = stdout
  auth = yes
}}
security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}}
thread pool {{
  start_servers = 1
  max_servers = 2
  min_spare_servers = 1
  max_spare_servers = 2
}}
client loopback {{
  ipaddr = 127.0.0.1
  secret = {secret}
}}
modules {{
  expr {{
  }}
  pap {{
  }}
  files {{
    filename = {users_file}
  }}
  sql {{
    dialect = "postgresql"
    driver = "rlm_sql_postgresql"
    server = "{host}"
    port = {port}
    login = "{user}"
    password = "{password}"
    radius_db = "{db}"
    acct_table1 = "radacct"
    acct_table2 = "radacct"
    postauth_table = "radpostauth"
    authcheck_table = "radcheck"
    groupcheck_table = "radgroupcheck"
    authreply_table = "radreply"
    groupreply_table = "radgroupreply"
    usergroup_table = "radusergroup"
    read_groups = yes
    read_clients = no
    client_table = "nas"
    group_attribute = "SQL-Group"
    pool {{
      start = 1
      min = 1
      max = 2
      spare = 1
      uses = 0
      retry_delay = 1
      lifetime = 0
      idle_timeout = 60
    }}
    $INCLUDE ${{modconfdir}}/${{.:name}}/main/${{dialect}}/queries.conf
  }}
}}
server default {{
  listen {{
    type = auth
    ipaddr = 127.0.0.1
    port = {radius_port}
  }}
  authorize {{
    {source}
    pap
  }}
  authenticate {{
    Auth-Type PAP {{
      pap
    }}
  }}
}}
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(directory: Path, database_url: str, radius_port: int, users_file: Path | None = None) -> None:
    """rlm_sql on ``database_url`` answers, or with ``users_file`` rlm_files reading that users(5) file."""
    url = urlsplit(database_url)
    (directory / "radiusd.conf").write_text(RADIUSD_CONF.format(
        dir=directory, mods=MODS_CONFIG, secret=SECRET.decode(), host=url.hostname or "127.0.0.1",
        port=url.port or 5432, user=url.username or "postgres", password=url.password or "",
        db=url.path.lstrip("/"), radius_port=radius_port, source="files" if users_file else "sql",
        users_file=users_file or directory / "users"))
    (directory / "dictionary").write_text("")
    (directory / "users").touch()


@contextmanager
def freeradius(directory: Path, database_url: str, users_file: Path | None = None) -> Iterator[int]:
    """Start ``freeradius -X -d DIR``; yield its port once it is 'Ready to process requests'."""
    port = free_udp_port()
    write_config(directory, database_url, port, users_file)
    checked = subprocess.run(["freeradius", "-C", "-d", str(directory)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    proc = subprocess.Popen(["freeradius", "-X", "-d", str(directory)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ready to process requests" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not ready.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("freeradius did not start:\n" + "".join(lines[-60:]))
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
