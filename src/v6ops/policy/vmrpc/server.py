"""gRPC ``vmprovisioner.v1.VmService`` over :class:`v6ops.policy.vms.VmSecurityService` (the REST API's service).

Messages convert through the same pydantic schema the REST API validates with, so one config stores
the same object whichever door it came in by. Bad configs fail with INVALID_ARGUMENT and a
``google.rpc.BadRequest`` detail listing every field path (AIP-193).

Authenticated as the REST API is, with the same API tokens (``v6ops token create``): every call
carries ``authorization: Bearer <token>`` metadata, checked by :class:`BearerAuth` before the method
runs (UNAUTHENTICATED without one or with a bad, expired or revoked one; PERMISSION_DENIED when a
viewer writes). The servicer is a thin shell like the REST router: it passes the caller's tenant to
:class:`VmSecurityService`, so a tenant-scoped token sees only its own VMs (another tenant's is
NOT_FOUND) and creates VMs only for its own customer (PERMISSION_DENIED otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from contextvars import ContextVar
from datetime import datetime
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from pydantic import BaseModel, SecretStr

from v6ops.auth.credentials import Principal, Role, authenticate_secret
from v6ops.policy.schema import IPv6Config, IPv6SecurityConfig, ProtoEnum
from v6ops.policy.vmrpc import vm_service_pb2 as pb
from v6ops.policy.vmrpc import vm_service_pb2_grpc as pb_grpc
from v6ops.policy.vms import (
    VmConfigError,
    VmConflictError,
    VmError,
    VmExistsError,
    VmForbiddenError,
    VmNotFoundError,
    VmSecurityService,
    VmVersionView,
    VmView,
)
from v6ops.store.db import Store


def message_dict(message: Message, defaults: bool = False) -> dict[str, Any]:
    """A message as the plain dict the policy loader reads (proto field names, enum names)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=defaults)


def _value(value: Any, field: FieldDescriptor) -> Any:
    if isinstance(value, BaseModel):
        return _model_dict(value, field.message_type)
    if isinstance(value, list):
        return [_value(v, field) for v in value]
    if isinstance(value, ProtoEnum):
        return value.proto_name if field.type == FieldDescriptor.TYPE_ENUM else value.value
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def _model_dict(model: BaseModel, descriptor: Descriptor) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        field = descriptor.fields_by_name.get(name)
        if field is None or value is None:
            continue
        out[name] = _value(value, field)
    return out


def ipv6_config_message(config: dict[str, Any]) -> pb.IPv6Config:
    model = IPv6Config.model_validate(config)
    return json_format.ParseDict(_model_dict(model, pb.IPv6Config.DESCRIPTOR), pb.IPv6Config())


def security_message(security: dict[str, Any]) -> pb.IPv6SecurityConfig:
    model = IPv6SecurityConfig.model_validate(security)
    return json_format.ParseDict(_model_dict(model, pb.IPv6SecurityConfig.DESCRIPTOR), pb.IPv6SecurityConfig())


def _time(t: datetime) -> str:
    return t.isoformat() + "Z" if t.tzinfo is None else t.isoformat()


def vm_message(view: VmView) -> pb.Vm:
    return pb.Vm(id=view.id, customer_id=view.customer_id, name=view.name, tier=view.tier, version=view.version,
                 profile=view.profile, ipv6_config=ipv6_config_message(view.ipv6_config),
                 compiled_sha256=view.compiled_sha256, created_at=_time(view.created_at),
                 updated_at=_time(view.updated_at),
                 warnings=[pb.Problem(path=p.path, severity=p.severity.value, code=p.code, message=p.message)
                           for p in view.warnings])


def version_message(v: VmVersionView) -> pb.VmVersion:
    msg = pb.VmVersion(vm_id=v.vm_id, customer_id=v.customer_id, version=v.version, action=v.action, actor=v.actor,
                       compiled_sha256=v.compiled_sha256, created_at=_time(v.created_at))
    if v.ipv6_config is not None:
        msg.ipv6_config.CopyFrom(ipv6_config_message(v.ipv6_config))
    return msg


def _abort(context: grpc.ServicerContext, code: int, message: str,
           violations: list[tuple[str, str]] | None = None) -> NoReturn:
    status = status_pb2.Status(code=code, message=message)
    if violations:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations]))
        status.details.append(detail)
    context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("abort_with_status returned")  # pragma: no cover


def _fail(context: grpc.ServicerContext, exc: VmError, path_map: tuple[str, str] = ("", "")) -> NoReturn:
    if isinstance(exc, VmConfigError):
        old, new = path_map

        def where(path: str) -> str:
            return new + path[len(old):] if old and path.startswith(old) else path

        _abort(context, code_pb2.INVALID_ARGUMENT, str(exc), [(where(p.path), p.message) for p in exc.problems])
    if isinstance(exc, VmNotFoundError):
        _abort(context, code_pb2.NOT_FOUND, str(exc))
    if isinstance(exc, VmForbiddenError):
        _abort(context, code_pb2.PERMISSION_DENIED, str(exc))
    if isinstance(exc, VmExistsError):
        _abort(context, code_pb2.ALREADY_EXISTS, str(exc))
    if isinstance(exc, VmConflictError):
        _abort(context, code_pb2.FAILED_PRECONDITION, str(exc))
    _abort(context, code_pb2.INVALID_ARGUMENT, str(exc))


# The methods a viewer may call; every other method of the service changes VMs and needs an operator,
# so a method added to the proto later is a write until it is listed here.
READ_METHODS = frozenset({"GetVm", "GetVmNetworkSecurity", "ListVms", "GetVmHistory"})
_caller: ContextVar[Principal | None] = ContextVar("v6ops_grpc_caller", default=None)


def _bearer(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


class BearerAuth(grpc.ServerInterceptor):
    """Every call needs an API token of a role that reaches the method's (viewer reads, operator writes).

    The token is checked in the worker thread that runs the call (not in the server's polling thread)
    and against the database on every call, so a revocation takes effect on the next call."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler  # unknown method: grpc answers UNIMPLEMENTED; the service is all unary
        needed = Role.VIEWER if details.method.rsplit("/", 1)[-1] in READ_METHODS else Role.OPERATOR
        method = handler.unary_unary

        def checked(request: Message, context: grpc.ServicerContext) -> Message:
            who = self.authenticate(context)
            if not who.can(needed):
                _abort(context, code_pb2.PERMISSION_DENIED,
                       f"this needs the {needed.label} role; {who.name!r} is {who.role.label}")
            token = _caller.set(who)
            try:
                return method(request, context)
            finally:
                _caller.reset(token)

        return grpc.unary_unary_rpc_method_handler(checked, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)

    def authenticate(self, context: grpc.ServicerContext) -> Principal:
        authorization = _bearer(context)
        if authorization is None:
            _abort(context, code_pb2.UNAUTHENTICATED, "authentication required: send 'authorization: Bearer "
                   "<token>' metadata (v6ops token create)")
        scheme, _, secret = authorization.partition(" ")
        who = authenticate_secret(self.store, secret.strip(), "api") if scheme.lower() == "bearer" else None
        if who is None:
            _abort(context, code_pb2.UNAUTHENTICATED, "invalid, expired or revoked bearer token")
        return who


def _principal(context: grpc.ServicerContext) -> Principal:
    """The caller :class:`BearerAuth` checked; a servicer served without it refuses every call."""
    who = _caller.get()
    if who is None:
        _abort(context, code_pb2.UNAUTHENTICATED, "authentication required")
    return who


def _set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


class VmServicer(pb_grpc.VmServiceServicer):
    def __init__(self, service: VmSecurityService) -> None:
        self.service = service

    def CreateVm(self, request: pb.CreateVmRequest, context: grpc.ServicerContext) -> pb.CreateVmResponse:  # noqa: N802 (the proto's names)
        who = _principal(context)
        config = message_dict(request.config.ipv6_config) if request.config.HasField("ipv6_config") else {}
        try:
            view = self.service.create(request.vm_id, request.customer_id, config, name=request.name,
                                       tier=request.tier, actor=who.actor(context.peer()), tenant=who.tenant)
        except VmError as exc:
            _fail(context, exc)
        return pb.CreateVmResponse(vm=vm_message(view))

    def UpdateVmNetworkSecurity(self, request: pb.UpdateVmNetworkSecurityRequest,  # noqa: N802 (the proto's names)
                                context: grpc.ServicerContext) -> pb.UpdateVmNetworkSecurityResponse:
        who = _principal(context)
        expected = request.expected_version or None
        mapping = ("ipv6_config.security", "security")
        try:
            if request.update_mask.paths:
                full = message_dict(request.security, defaults=True)
                patch: dict[str, Any] = {}
                for i, path in enumerate(request.update_mask.paths):
                    node: Any = full
                    parts = path.split(".")
                    for part in parts:
                        if not isinstance(node, dict) or part not in node:
                            _abort(context, code_pb2.INVALID_ARGUMENT, f"update_mask path {path!r} is not a field "
                                   "of IPv6SecurityConfig", [(f"update_mask.paths[{i}]", f"unknown field {path!r}")])
                        node = node[part]
                    _set_path(patch, parts, node)
                view = self.service.patch_security(request.vm_id, patch, actor=who.actor(context.peer()),
                                                   expected_version=expected, tenant=who.tenant)
            else:
                view = self.service.replace_security(request.vm_id, message_dict(request.security),
                                                     actor=who.actor(context.peer()), expected_version=expected,
                                                     tenant=who.tenant)
        except VmError as exc:
            _fail(context, exc, mapping)
        return pb.UpdateVmNetworkSecurityResponse(vm=vm_message(view))

    def GetVmNetworkSecurity(self, request: pb.GetVmNetworkSecurityRequest,  # noqa: N802 (the proto's names)
                             context: grpc.ServicerContext) -> pb.GetVmNetworkSecurityResponse:
        try:
            view = self.service.get(request.vm_id, _principal(context).tenant)
        except VmError as exc:
            _fail(context, exc)
        return pb.GetVmNetworkSecurityResponse(
            vm_id=view.id, customer_id=view.customer_id, version=view.version,
            security=security_message(view.ipv6_config.get("security", {})), compiled_sha256=view.compiled_sha256)

    def GetVm(self, request: pb.GetVmRequest, context: grpc.ServicerContext) -> pb.Vm:  # noqa: N802 (the proto's names)
        try:
            return vm_message(self.service.get(request.vm_id, _principal(context).tenant))
        except VmError as exc:
            _fail(context, exc)

    def ReplaceVm(self, request: pb.ReplaceVmRequest, context: grpc.ServicerContext) -> pb.Vm:  # noqa: N802 (the proto's names)
        who = _principal(context)
        try:
            view = self.service.replace(request.vm_id, message_dict(request.config.ipv6_config),
                                        actor=who.actor(context.peer()),
                                        expected_version=request.expected_version or None, tenant=who.tenant)
        except VmError as exc:
            _fail(context, exc, ("ipv6_config", "config.ipv6_config"))
        return vm_message(view)

    def ListVms(self, request: pb.ListVmsRequest, context: grpc.ServicerContext) -> pb.ListVmsResponse:  # noqa: N802 (the proto's names)
        token = request.page_token or "0"
        if not token.isdigit():
            _abort(context, code_pb2.INVALID_ARGUMENT, f"page_token {token!r} is not one this server issued",
                   [("page_token", "not a token from a previous ListVms response")])
        try:
            page = self.service.list_vms(customer_id=request.customer_id or None, tier=request.tier or None,
                                         profile=request.profile or None, offset=int(token),
                                         limit=request.page_size or 100, tenant=_principal(context).tenant)
        except VmError as exc:
            _fail(context, exc)
        return pb.ListVmsResponse(vms=[vm_message(v) for v in page.vms], total=page.total,
                                  next_page_token="" if page.next_offset is None else str(page.next_offset))

    def DeleteVm(self, request: pb.DeleteVmRequest, context: grpc.ServicerContext) -> pb.DeleteVmResponse:  # noqa: N802 (the proto's names)
        try:
            who = _principal(context)
            self.service.delete(request.vm_id, actor=who.actor(context.peer()), tenant=who.tenant)
        except VmError as exc:
            _fail(context, exc)
        return pb.DeleteVmResponse()

    def GetVmHistory(self, request: pb.GetVmHistoryRequest, context: grpc.ServicerContext) -> pb.GetVmHistoryResponse:  # noqa: N802 (the proto's names)
        at = None
        if request.at:
            try:
                at = datetime.fromisoformat(request.at.replace("Z", "+00:00"))
            except ValueError:
                _abort(context, code_pb2.INVALID_ARGUMENT, f"at {request.at!r} is not an RFC 3339 time",
                       [("at", "not an RFC 3339 time")])
        try:
            versions = self.service.history(request.vm_id, at, _principal(context).tenant)
        except VmError as exc:
            _fail(context, exc)
        return pb.GetVmHistoryResponse(versions=[version_message(v) for v in versions])

    def RollbackVm(self, request: pb.RollbackVmRequest, context: grpc.ServicerContext) -> pb.Vm:  # noqa: N802 (the proto's names)
        try:
            who = _principal(context)
            return vm_message(self.service.rollback(request.vm_id, request.version, actor=who.actor(context.peer()),
                                                    tenant=who.tenant))
        except VmError as exc:
            _fail(context, exc)


def serve(service: VmSecurityService, address: str = "127.0.0.1:0", workers: int = 8) -> tuple[grpc.Server, int]:
    """A started server and its port; every call needs an API token of the service's database.

    Plaintext HTTP/2: the token crosses the wire in clear, so listen on loopback or a unix socket, or put
    the server behind a TLS-terminating proxy."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), interceptors=[BearerAuth(service.store)])
    pb_grpc.add_VmServiceServicer_to_server(VmServicer(service), server)
    port = server.add_insecure_port(address)
    server.start()
    return server, port
