"""TLS handshake and HTTPS request per address, against a TLS server on ::1 and 127.0.0.1 with a test CA."""

from __future__ import annotations

import datetime
import http.server
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from v6ops.cli.main import app as cli

runner = CliRunner()


def make_cert(tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"secure hello\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class V6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory: pytest.TempPathFactory, lab) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = make_cert(tmp, "dual.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    v6 = V6Server(("::1", 0), Handler)
    port = v6.server_address[1]
    v4 = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    servers = [v6, v4]
    for server in servers:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"port": port, "cert": cert, "dns": lab["dns"]}
    for server in servers:
        server.shutdown()
        server.server_close()


def probe(tls_lab, *args: str, env: dict[str, str] | None = None) -> dict:
    result = runner.invoke(cli, ["probe", "--json", "--no-icmp", "--resolver", f"127.0.0.1:{tls_lab['dns']}", "--timeout", "3",
                                 *args, f"https://dual.test:{tls_lab['port']}/"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"][0]


def test_https_with_a_trusted_ca_has_handshake_and_status_per_family(tls_lab):
    result = probe(tls_lab, env={"SSL_CERT_FILE": str(tls_lab["cert"])})
    assert result["verdict"] == "dual-stack ok"
    for row in result["addresses"]:
        assert row["tls_error"] is None and row["tls_handshake_ms"] is not None
        assert row["tls_version"] in ("TLSv1.2", "TLSv1.3") and row["http_status"] == 200


def test_untrusted_certificate_is_a_tls_error_on_both_families(tls_lab):
    result = probe(tls_lab, env={"SSL_CERT_FILE": "/nonexistent"})
    assert result["verdict"] == "unreachable"
    assert all("certificate verify failed" in row["tls_error"] for row in result["addresses"])
    assert "certificate verify failed" in result["error"]


def test_insecure_skips_verification(tls_lab):
    result = probe(tls_lab, "--insecure", env={"SSL_CERT_FILE": "/nonexistent"})
    assert result["verdict"] == "dual-stack ok" and {r["http_status"] for r in result["addresses"]} == {200}
