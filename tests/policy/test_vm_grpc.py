"""gRPC VmService on a real server (loopback port), every operation, INVALID_ARGUMENT field paths,
the same stored object as the REST API for the same config, and the same tokens, roles and tenant
scoping as the REST API."""

from __future__ import annotations

import collections
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2, json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import select

from tests.api_client import api_client, make_token
from tests.policy.vm_fixtures import web_config
from v6ops.api.app import create_app
from v6ops.auth.credentials import Role, create_token, revoke_token, utcnow
from v6ops.auth.models import Credential
from v6ops.events.audit import AuditLog, read_records
from v6ops.policy.vmrpc import vm_service_pb2 as pb
from v6ops.policy.vmrpc import vm_service_pb2_grpc as pb_grpc
from v6ops.policy.vmrpc.server import serve
from v6ops.policy.vms import VmSecurityService
from v6ops.settings import Settings
from v6ops.store.db import open_store
from v6ops.store.security_models import SecurityVm


class _Details(collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials",
                                                     "wait_for_ready", "compression")),
               grpc.ClientCallDetails):
    pass


class BearerMetadata(grpc.UnaryUnaryClientInterceptor):
    """Adds ``authorization: Bearer <token>`` to every call, as a gRPC client of v6ops does."""

    def __init__(self, token: str) -> None:
        self.token = token

    def intercept_unary_unary(self, continuation, details, request):
        metadata = [*(details.metadata or []), ("authorization", f"Bearer {self.token}")]
        return continuation(_Details(details.method, details.timeout, metadata, details.credentials,
                                     details.wait_for_ready, details.compression), request)


class Rpc:
    """A server on a loopback port and stubs that carry a token of the asked role and tenant (or none)."""

    def __init__(self, url: str, service: VmSecurityService, port: int) -> None:
        self.url, self.service, self.port = url, service, port
        self.channels: list[grpc.Channel] = []

    def stub(self, token: str | None = None) -> pb_grpc.VmServiceStub:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.channels.append(channel)
        if token is not None:
            channel = grpc.intercept_channel(channel, BearerMetadata(token))
        return pb_grpc.VmServiceStub(channel)

    def as_role(self, role: str = "admin", tenant: str | None = None, name: str = "test") -> pb_grpc.VmServiceStub:
        return self.stub(make_token(self.url, role, tenant, name))


@pytest.fixture
def server(vm_db_url: str, tmp_path: Path):
    store = open_store(vm_db_url)
    audit = AuditLog(tmp_path / "audit.jsonl")
    service = VmSecurityService(store, audit)
    grpc_server, port = serve(service)
    rpc = Rpc(vm_db_url, service, port)
    yield rpc
    for channel in rpc.channels:
        channel.close()
    grpc_server.stop(None)
    audit.close()
    open_store.cache_clear()


@pytest.fixture
def rpc(server: Rpc):
    """An installation admin's stub, the service and the database URL."""
    return server.as_role("admin"), server.service, server.url


def ipv6(config: dict) -> pb.IPv6Config:
    return json_format.ParseDict(config, pb.IPv6Config())


def bad_request(exc: grpc.RpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(exc)
    assert status is not None
    out = []
    for detail in status.details:
        br = error_details_pb2.BadRequest()
        assert detail.Unpack(br)
        out += [(v.field, v.description) for v in br.field_violations]
    return out


def create(stub, vm_id="vm-1", customer="acme", tier="premium", **security):
    return stub.CreateVm(pb.CreateVmRequest(vm_id=vm_id, customer_id=customer, tier=tier, name=vm_id,
                                            config=pb.VmConfig(ipv6_config=ipv6(web_config(**security))))).vm


def test_every_operation(rpc):
    stub, _, _ = rpc
    vm = create(stub)
    assert vm.version == 1 and vm.profile == "HIGH"
    assert vm.ipv6_config.security.profile == pb.SECURITY_PROFILE_HIGH
    assert vm.ipv6_config.security.monitoring.siem_config.auth_token == "**********"
    assert vm.ipv6_config.interface.vlan.vlan_id == 100
    with pytest.raises(grpc.RpcError) as info:
        create(stub)
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    sec = stub.GetVmNetworkSecurity(pb.GetVmNetworkSecurityRequest(vm_id="vm-1"))
    assert list(sec.security.ra_guard.allowed_routers) == ["fe80::1"] and sec.version == 1
    # partial update with a field mask: only max_ra_rate changes
    req = pb.UpdateVmNetworkSecurityRequest(vm_id="vm-1", security=pb.IPv6SecurityConfig(
        ra_guard=pb.RAGuardConfig(max_ra_rate=3, enabled=False)),
        update_mask=field_mask_pb2.FieldMask(paths=["ra_guard.max_ra_rate"]), expected_version=1)
    v2 = stub.UpdateVmNetworkSecurity(req).vm
    assert v2.version == 2 and v2.ipv6_config.security.ra_guard.max_ra_rate == 3
    assert v2.ipv6_config.security.ra_guard.enabled  # not in the mask: kept
    with pytest.raises(grpc.RpcError) as info:
        stub.UpdateVmNetworkSecurity(req)  # expected_version 1 is stale
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # whole-section replace
    whole = json_format.ParseDict(web_config(profile="SECURITY_PROFILE_MEDIUM")["security"], pb.IPv6SecurityConfig())
    v3 = stub.UpdateVmNetworkSecurity(pb.UpdateVmNetworkSecurityRequest(vm_id="vm-1", security=whole)).vm
    assert v3.version == 3 and v3.profile == "MEDIUM"
    v4 = stub.ReplaceVm(pb.ReplaceVmRequest(vm_id="vm-1", config=pb.VmConfig(ipv6_config=ipv6(web_config()))))
    assert v4.version == 4 and v4.profile == "HIGH"
    assert stub.GetVm(pb.GetVmRequest(vm_id="vm-1")).version == 4
    hist = stub.GetVmHistory(pb.GetVmHistoryRequest(vm_id="vm-1")).versions
    assert [(h.version, h.action) for h in hist] == [(1, "create"), (2, "patch"), (3, "replace"), (4, "replace")]
    at = stub.GetVmHistory(pb.GetVmHistoryRequest(vm_id="vm-1", at=hist[1].created_at)).versions
    assert [v.version for v in at] == [2]
    v5 = stub.RollbackVm(pb.RollbackVmRequest(vm_id="vm-1", version=2))
    assert v5.version == 5 and v5.compiled_sha256 == v2.compiled_sha256
    for n in range(2, 6):
        create(stub, f"vm-{n}", customer="acme" if n % 2 else "globex")
    page = stub.ListVms(pb.ListVmsRequest(page_size=2))
    assert [v.id for v in page.vms] == ["vm-1", "vm-2"] and page.total == 5 and page.next_page_token == "2"
    page = stub.ListVms(pb.ListVmsRequest(page_size=2, page_token=page.next_page_token, customer_id="acme"))
    assert [v.id for v in page.vms] == ["vm-5"] and page.total == 3 and page.next_page_token == ""
    with pytest.raises(grpc.RpcError) as info:
        stub.ListVms(pb.ListVmsRequest(page_token="zzz"))
    assert bad_request(info.value)[0][0] == "page_token"
    stub.DeleteVm(pb.DeleteVmRequest(vm_id="vm-2"))
    with pytest.raises(grpc.RpcError) as info:
        stub.GetVm(pb.GetVmRequest(vm_id="vm-2"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_invalid_argument_with_field_paths(rpc):
    stub, _, _ = rpc
    bad = web_config(ra_guard={"enabled": True, "allowed_routers": ["2001:db8::1"]})
    with pytest.raises(grpc.RpcError) as info:
        stub.CreateVm(pb.CreateVmRequest(vm_id="vm-x", customer_id="acme", config=pb.VmConfig(ipv6_config=ipv6(bad))))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [f for f, _ in bad_request(info.value)]
    assert any(f.startswith("config.ipv6_config.security.ra_guard.allowed_routers") for f in fields), fields
    create(stub)
    req = pb.UpdateVmNetworkSecurityRequest(vm_id="vm-1", security=pb.IPv6SecurityConfig(
        source_validation=pb.SourceValidationConfig(allowed_ingress_prefixes=["2001:db8::/200"])),
        update_mask=field_mask_pb2.FieldMask(paths=["source_validation.allowed_ingress_prefixes"]))
    with pytest.raises(grpc.RpcError) as info:
        stub.UpdateVmNetworkSecurity(req)
    fields = [f for f, _ in bad_request(info.value)]
    assert any(f.startswith("security.source_validation.allowed_ingress_prefixes") for f in fields), fields
    req.update_mask.paths[:] = ["ra_guard.no_such_field"]
    with pytest.raises(grpc.RpcError) as info:
        stub.UpdateVmNetworkSecurity(req)
    assert bad_request(info.value) == [("update_mask.paths[0]", "unknown field 'ra_guard.no_such_field'")]
    assert stub.GetVm(pb.GetVmRequest(vm_id="vm-1")).version == 1  # nothing stored by the failures
    with pytest.raises(grpc.RpcError) as info:
        stub.CreateVm(pb.CreateVmRequest(vm_id="", customer_id="acme"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_same_config_same_stored_object_through_rest_and_grpc(rpc, tmp_path):
    stub, service, url = rpc
    config = web_config(rate_limits={"max_pps_per_vm": 10000, "max_bandwidth_per_vm": 1073741824,
                                     "method": "RATE_LIMIT_METHOD_TOKEN_BUCKET"},
                        extension_headers={"mode": "SELECTIVE", "allowed_types": [0, 6, 17, 44],
                                           "fragment_policy": "reassemble"})
    stub.CreateVm(pb.CreateVmRequest(vm_id="via-grpc", customer_id="acme",
                                     config=pb.VmConfig(ipv6_config=ipv6(json_format.MessageToDict(
                                         ipv6(_proto_spelling(config)), preserving_proto_field_name=True)))))
    app = create_app(Settings(data_dir=tmp_path / "rest", database_url=url))
    with api_client(app) as client:
        r = client.post("/api/v1/vms", json={"id": "via-rest", "customer_id": "acme", "config": {"ipv6_config": config}})
        assert r.status_code == 201, r.text
    with service.store.read() as session:
        rows = {r.id: r for r in session.scalars(select(SecurityVm))}
    assert rows["via-grpc"].ipv6_config == rows["via-rest"].ipv6_config
    assert rows["via-grpc"].compiled_sha256 != "" and rows["via-grpc"].profile == rows["via-rest"].profile
    # the tables differ only by the VM name in them
    assert rows["via-grpc"].compiled.replace("via-grpc", "X").replace("via_grpc", "X") == \
        rows["via-rest"].compiled.replace("via-rest", "X").replace("via_rest", "X")
    audit = [r for r in read_records(tmp_path / "audit.jsonl") if r["kind"] == "change"]
    assert audit[0]["target"] == "vm/via-grpc" and audit[0]["actor"].startswith("test@ipv")  # the token's name


def _proto_spelling(config: dict) -> dict:
    """The enum spellings a protobuf client sends (full proto names)."""
    out = json_format.MessageToDict(json_format.ParseDict(_fix(config), pb.IPv6Config()),
                                    preserving_proto_field_name=True)
    return out


def _fix(config: dict) -> dict:
    import copy
    c = copy.deepcopy(config)
    c["security"]["extension_headers"]["mode"] = "EXTENSION_HEADER_MODE_SELECTIVE"
    c["security"]["extension_headers"]["fragment_policy"] = "FRAGMENT_POLICY_REASSEMBLE"
    c["security"]["monitoring"]["siem_config"]["log_format"] = "CEF"
    return c


def test_generated_code_is_current(tmp_path):
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{root / 'src'}", f"--python_out={tmp_path}",
                          f"--grpc_python_out={tmp_path}", str(root / "src/v6ops/policy/vmrpc/vm_service.proto")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in ("vm_service_pb2.py", "vm_service_pb2_grpc.py"):
        generated = (tmp_path / "v6ops/policy/vmrpc" / name).read_text()
        committed = (root / "src/v6ops/policy/vmrpc" / name).read_text()
        assert _versionless(generated) == _versionless(committed), f"{name} is stale: run scripts/gen-grpc"


def _versionless(text: str) -> str:
    """Generated code without the lines that name the generator's version."""
    skip = ("Protobuf Python Version", "GRPC_GENERATED_VERSION =", "_runtime_version.ValidateProtobufRuntimeVersion")
    return "\n".join(line for line in text.splitlines() if not any(s in line for s in skip))


def test_vm_grpc_command_serves_until_sigterm(tmp_path):
    import os
    import signal

    from tests.ipam.server import free_port

    port = free_port()
    env = {**os.environ, "V6OPS_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "V6OPS_DATA_DIR": str(tmp_path)}
    token = make_token(env["V6OPS_DATABASE_URL"], "operator", name="ci")
    open_store.cache_clear()
    proc = subprocess.Popen([sys.executable, "-m", "v6ops.cli", "policy", "vm-grpc", "--listen", f"127.0.0.1:{port}"],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        assert "VmService listening on 127.0.0.1:" in proc.stderr.readline()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.RpcError) as info:
                pb_grpc.VmServiceStub(channel).ListVms(pb.ListVmsRequest())
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED  # the command serves with authentication
            stub = pb_grpc.VmServiceStub(grpc.intercept_channel(channel, BearerMetadata(token)))
            assert create(stub).version == 1
            assert stub.ListVms(pb.ListVmsRequest()).total == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    changes = [r for r in read_records(tmp_path / "audit.jsonl") if r["kind"] == "change"]
    assert [c["action"] for c in changes] == ["create"]
    assert changes[0]["actor"].startswith("ci@")


# ---------------------------------------------------------------------------------------------------------
# authentication, roles and tenants: every RPC of the service, so a method added later cannot forget them

METHODS = [m.name for m in pb.DESCRIPTOR.services_by_name["VmService"].methods]


def requests_on(vm_id: str, customer: str) -> dict[str, object]:
    """A well-formed request of every RPC, acting on ``vm_id`` (CreateVm: a new VM of ``customer``)."""
    security = json_format.ParseDict(web_config()["security"], pb.IPv6SecurityConfig())
    return {
        "CreateVm": pb.CreateVmRequest(vm_id=vm_id + "-new", customer_id=customer,
                                       config=pb.VmConfig(ipv6_config=ipv6(web_config()))),
        "UpdateVmNetworkSecurity": pb.UpdateVmNetworkSecurityRequest(vm_id=vm_id, security=security),
        "GetVmNetworkSecurity": pb.GetVmNetworkSecurityRequest(vm_id=vm_id),
        "GetVm": pb.GetVmRequest(vm_id=vm_id),
        "ReplaceVm": pb.ReplaceVmRequest(vm_id=vm_id, config=pb.VmConfig(ipv6_config=ipv6(web_config()))),
        "ListVms": pb.ListVmsRequest(),
        "DeleteVm": pb.DeleteVmRequest(vm_id=vm_id),
        "GetVmHistory": pb.GetVmHistoryRequest(vm_id=vm_id),
        "RollbackVm": pb.RollbackVmRequest(vm_id=vm_id, version=1),
    }


def code_of(stub, method: str, request) -> grpc.StatusCode:
    try:
        getattr(stub, method)(request)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_every_rpc_is_listed_with_a_request():
    assert sorted(requests_on("x", "acme")) == sorted(METHODS)


def test_every_rpc_needs_a_valid_unexpired_unrevoked_token(server):
    admin = server.as_role("admin")
    create(admin, "vm-a", customer="acme")
    store = open_store(server.url)
    revoked, record = create_token(store, "revoked", Role.ADMIN)
    revoke_token(store, record["id"])
    expired, record = create_token(store, "expired", Role.ADMIN, expires_in=timedelta(days=1))
    with store.write() as session:  # its expiry moved into the past, so the test does not wait for the clock
        session.get(Credential, record["id"]).expires_at = utcnow() - timedelta(seconds=1)
    session_secret = make_token(server.url, "admin", name="other")
    with store.write() as session:  # a browser session's secret is not an API token
        row = session.query(Credential).filter_by(name="other").one()
        row.kind = "session"
    stubs = {"no token": server.stub(), "not a v6ops token": server.stub("abc"),
             "unknown token": server.stub("v6ops_" + "x" * 43), "revoked": server.stub(revoked),
             "expired": server.stub(expired), "session secret": server.stub(session_secret)}
    for method, request in requests_on("vm-a", "acme").items():
        for what, stub in stubs.items():
            assert code_of(stub, method, request) == grpc.StatusCode.UNAUTHENTICATED, (method, what)
        # a scheme other than Bearer is refused too
        with pytest.raises(grpc.RpcError) as info:
            getattr(server.stub(), method)(request, metadata=[("authorization", f"Basic {revoked}")])
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert admin.GetVm(pb.GetVmRequest(vm_id="vm-a")).version == 1  # nothing above changed it
    assert admin.ListVms(pb.ListVmsRequest()).total == 1


def test_a_viewer_reads_and_cannot_write(server):
    admin = server.as_role("admin")
    create(admin, "vm-a", customer="acme")
    viewer = server.as_role("viewer")
    for method, request in requests_on("vm-a", "acme").items():
        got = code_of(viewer, method, request)
        if method in ("GetVm", "GetVmNetworkSecurity", "ListVms", "GetVmHistory"):
            assert got == grpc.StatusCode.OK, method
        else:
            assert got == grpc.StatusCode.PERMISSION_DENIED, method
    hist = admin.GetVmHistory(pb.GetVmHistoryRequest(vm_id="vm-a")).versions
    assert [h.version for h in hist] == [1]  # no write went through
    assert admin.ListVms(pb.ListVmsRequest()).total == 1
    # an operator writes
    operator = server.as_role("operator")
    assert code_of(operator, "ReplaceVm", requests_on("vm-a", "acme")["ReplaceVm"]) == grpc.StatusCode.OK


def test_tenants_see_and_change_only_their_own_vms(server):
    admin = server.as_role("admin")
    a, b = server.as_role("operator", "acme", "ops-acme"), server.as_role("operator", "globex", "ops-globex")
    create(a, "vm-a", customer="acme")
    create(b, "vm-b", customer="globex")
    # creating for another customer is refused, whoever's VM id it would take
    with pytest.raises(grpc.RpcError) as info:
        create(a, "vm-x", customer="globex")
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # B acting on A's VM: every call is NOT_FOUND (the VM's existence does not leak)
    for method, request in requests_on("vm-a", "acme").items():
        if method in ("CreateVm", "ListVms"):
            continue
        assert code_of(b, method, request) == grpc.StatusCode.NOT_FOUND, method
    # lists are scoped, a customer_id filter cannot widen them
    assert [v.id for v in b.ListVms(pb.ListVmsRequest()).vms] == ["vm-b"]
    page = b.ListVms(pb.ListVmsRequest(customer_id="acme"))
    assert page.total == 0 and list(page.vms) == []
    assert [v.id for v in a.ListVms(pb.ListVmsRequest()).vms] == ["vm-a"]
    # A's VM is as A made it; A changes it, and the installation admin sees both tenants
    assert admin.GetVm(pb.GetVmRequest(vm_id="vm-a")).version == 1
    assert code_of(a, "ReplaceVm", requests_on("vm-a", "acme")["ReplaceVm"]) == grpc.StatusCode.OK
    assert code_of(a, "RollbackVm", requests_on("vm-a", "acme")["RollbackVm"]) == grpc.StatusCode.OK
    assert code_of(a, "DeleteVm", requests_on("vm-a", "acme")["DeleteVm"]) == grpc.StatusCode.OK
    assert [v.id for v in admin.ListVms(pb.ListVmsRequest()).vms] == ["vm-b"]
    hist = admin.GetVmHistory(pb.GetVmHistoryRequest(vm_id="vm-a")).versions
    assert [(h.action, h.actor.split("@")[0]) for h in hist] == [
        ("create", "ops-acme"), ("replace", "ops-acme"), ("rollback", "ops-acme"), ("delete", "ops-acme")]


def test_the_servicer_without_the_interceptor_refuses_every_call(vm_db_url, tmp_path):
    """Fail closed: a server that mounts VmServicer without BearerAuth answers no call, even with a token."""
    from concurrent import futures

    from v6ops.policy.vmrpc.server import VmServicer

    service = VmSecurityService(open_store(vm_db_url), None)
    bare = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_VmServiceServicer_to_server(VmServicer(service), bare)
    port = bare.add_insecure_port("127.0.0.1:0")
    bare.start()
    token = make_token(vm_db_url, "admin")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.VmServiceStub(grpc.intercept_channel(channel, BearerMetadata(token)))
            for method, request in requests_on("vm-a", "acme").items():
                assert code_of(stub, method, request) == grpc.StatusCode.UNAUTHENTICATED, method
    finally:
        bare.stop(None)
        open_store.cache_clear()
