"""Pydantic models for the metald ``IPv6SecurityConfig`` and the VM-side ``IPv6Config``.

The models mirror the seed's protobuf messages field for field and only check
*structure* (types, enum spellings, unsigned ranges, unknown keys): a config
with a wrong prefix or a contradiction still loads, so that
``v6ops.policy.validate`` can report every such problem with its path at once
instead of stopping at the first. Proto3 semantics hold: an absent field is its
zero value (``0``, ``False``, ``""``, ``[]``, ``UNSPECIFIED``).

Enums accept every spelling the seed uses: the proto name
(``SECURITY_PROFILE_HIGH``), the short name in any case (``high``,
``SELECTIVE``) and the proto number; they dump as the short upper-case name.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

Uint32 = Annotated[int, Field(ge=0, le=UINT32_MAX)]
Uint64 = Annotated[int, Field(ge=0, le=UINT64_MAX)]


def _spelling_key(text: str) -> str:
    """Case, '-', '_' and spaces do not matter: ``pci-dss`` == ``PCI_DSS`` == ``PciDss``."""
    return re.sub(r"[-_\s]", "", text).upper()


_SPELLINGS: dict[type, dict[str, Any]] = {}


def _spellings(cls: type[ProtoEnum]) -> dict[str, Any]:
    """Every accepted spelling key of ``cls`` -> member, built once per enum."""
    table = _SPELLINGS.get(cls)
    if table is None:
        prefix = _spelling_key(cls.proto_prefix())
        table = {}
        for member in cls:
            table[_spelling_key(member.value)] = member
            table[prefix + _spelling_key(member.value)] = member
        for alias, target in cls.aliases().items():
            table[_spelling_key(alias)] = table[prefix + _spelling_key(alias)] = cls(target)
        _SPELLINGS[cls] = table
    return table


class ProtoEnum(StrEnum):
    """A proto3 enum whose members are listed in proto-number order (``UNSPECIFIED`` = 0)."""

    @classmethod
    def proto_prefix(cls) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).upper() + "_"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {}

    @property
    def proto_name(self) -> str:
        return self.proto_prefix() + self.value

    @property
    def number(self) -> int:
        return list(type(self)).index(self)

    @classmethod
    def coerce(cls, value: Any) -> Any:
        """Map any accepted spelling to a member; leave other input for pydantic to reject."""
        if isinstance(value, cls):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            members = list(cls)
            if 0 <= value < len(members):
                return members[value]
            raise ValueError(f"{cls.__name__} number must be 0-{len(members) - 1}, not {value}")
        if not isinstance(value, str):
            return value
        exact = cls._value2member_map_.get(value)
        if exact is not None:
            return exact
        member = _spellings(cls).get(_spelling_key(value))
        if member is not None:
            return member
        expected = ", ".join(m.value for m in cls if m.number)
        raise ValueError(f"unknown {cls.__name__} {value!r}; expected one of {expected} (or {cls.proto_prefix()}...)")


class SecurityProfile(ProtoEnum):
    UNSPECIFIED = "UNSPECIFIED"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    CUSTOM = "CUSTOM"


class ExtensionHeaderMode(ProtoEnum):
    UNSPECIFIED = "UNSPECIFIED"
    ALLOW_ALL = "ALLOW_ALL"
    BLOCK_ALL = "BLOCK_ALL"
    SELECTIVE = "SELECTIVE"


class FragmentPolicy(ProtoEnum):
    UNSPECIFIED = "UNSPECIFIED"
    ALLOW = "ALLOW"
    BLOCK = "BLOCK"
    REASSEMBLE = "REASSEMBLE"


class InterTenantPolicy(ProtoEnum):
    UNSPECIFIED = "UNSPECIFIED"
    BLOCK_ALL = "BLOCK_ALL"
    ALLOW_ALL = "ALLOW_ALL"
    SELECTIVE = "SELECTIVE"


class RateLimitMethod(ProtoEnum):
    UNSPECIFIED = "UNSPECIFIED"
    TOKEN_BUCKET = "TOKEN_BUCKET"
    LEAKY_BUCKET = "LEAKY_BUCKET"
    SLIDING_WINDOW = "SLIDING_WINDOW"


class LogLevel(ProtoEnum):
    UNSPECIFIED = "UNSPECIFIED"
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"WARNING": "WARN"}


class ComplianceFramework(ProtoEnum):
    UNSPECIFIED = "UNSPECIFIED"
    SOC2 = "SOC2"
    PCI_DSS = "PCI_DSS"
    GDPR = "GDPR"
    HIPAA = "HIPAA"
    ISO27001 = "ISO27001"


class SiemLogFormat(ProtoEnum):
    """The seed's ``log_format`` string ("JSON, CEF, LEEF"), typed so a typo is caught with its path."""

    UNSPECIFIED = "UNSPECIFIED"
    JSON = "JSON"
    CEF = "CEF"
    LEEF = "LEEF"


# Field types that accept every spelling (see ProtoEnum.coerce).
SecurityProfileField = Annotated[SecurityProfile, BeforeValidator(SecurityProfile.coerce)]
ExtensionHeaderModeField = Annotated[ExtensionHeaderMode, BeforeValidator(ExtensionHeaderMode.coerce)]
FragmentPolicyField = Annotated[FragmentPolicy, BeforeValidator(FragmentPolicy.coerce)]
InterTenantPolicyField = Annotated[InterTenantPolicy, BeforeValidator(InterTenantPolicy.coerce)]
RateLimitMethodField = Annotated[RateLimitMethod, BeforeValidator(RateLimitMethod.coerce)]
LogLevelField = Annotated[LogLevel, BeforeValidator(LogLevel.coerce)]
ComplianceFrameworkField = Annotated[ComplianceFramework, BeforeValidator(ComplianceFramework.coerce)]
SiemLogFormatField = Annotated[SiemLogFormat, BeforeValidator(SiemLogFormat.coerce)]


def _number_as_text(value: Any) -> Any:
    return str(value) if type(value) in (int, float) else value


class Message(BaseModel):
    """Base for every proto message: unknown keys are errors (a typo must not silently disable a control)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RABlockConfig(Message):
    block_prefix_info: bool = False
    block_mtu_options: bool = False
    block_route_info: bool = False
    block_rdnss: bool = False


class RAGuardConfig(Message):
    enabled: bool = False
    block_all_ra: bool = False
    allowed_routers: list[str] = Field(default_factory=list)
    max_ra_rate: Uint32 = Field(default=0, description="Router advertisements per minute; 0 = no rate limit.")
    block_config: RABlockConfig = Field(default_factory=RABlockConfig)


class SourceValidationConfig(Message):
    strict_ingress: bool = False
    strict_egress: bool = False
    allowed_ingress_prefixes: list[str] = Field(default_factory=list)
    allowed_egress_prefixes: list[str] = Field(default_factory=list)
    block_private_addresses: bool = False
    reverse_path_filtering: bool = False


class ExtensionHeaderConfig(Message):
    mode: ExtensionHeaderModeField = ExtensionHeaderMode.UNSPECIFIED
    allowed_types: list[Uint32] = Field(default_factory=list)
    max_chain_length: Uint32 = Field(default=0, description="Most extension headers in one packet; 0 = no limit.")
    fragment_policy: FragmentPolicyField = FragmentPolicy.UNSPECIFIED


class NetworkIsolationConfig(Message):
    customer_vlan: Uint32 = Field(default=0, description="802.1Q VLAN ID; 0 = no VLAN.")
    additional_vlans: list[Uint32] = Field(default_factory=list)
    network_namespace: str = ""
    bridge_interface: str = ""
    inter_tenant_policy: InterTenantPolicyField = InterTenantPolicy.UNSPECIFIED


class BurstConfig(Message):
    burst_packets: Uint32 = 0
    burst_duration_ms: Uint32 = 0
    recovery_time_s: Uint32 = 0


class RateLimitConfig(Message):
    max_pps_per_vm: Uint32 = Field(default=0, description="Packets per second; 0 = unlimited.")
    max_bandwidth_per_vm: Uint64 = Field(default=0, description="Bytes per second (not bits); 0 = unlimited.")
    max_connections_per_vm: Uint32 = Field(default=0, description="Concurrent connections; 0 = unlimited.")
    method: RateLimitMethodField = RateLimitMethod.UNSPECIFIED
    burst_config: BurstConfig = Field(default_factory=BurstConfig)


class SIEMConfig(Message):
    enabled: bool = False
    endpoint: str = ""
    auth_token: SecretStr = Field(default=SecretStr(""), description="Never echoed: dumps and reprs show '**********'.")
    log_format: SiemLogFormatField = SiemLogFormat.UNSPECIFIED


class MonitoringConfig(Message):
    enable_security_logging: bool = False
    security_log_level: LogLevelField = LogLevel.UNSPECIFIED
    enable_metrics: bool = False
    metrics_interval_s: Uint32 = 0
    siem_config: SIEMConfig = Field(default_factory=SIEMConfig)


class AuditConfig(Message):
    enabled: bool = False
    log_destination: str = ""
    include_performance_data: bool = False
    encrypt_logs: bool = False


class EncryptionConfig(Message):
    require_tls: bool = False
    # YAML reads an unquoted 1.3 as a float; the version is text.
    min_tls_version: Annotated[str, BeforeValidator(_number_as_text)] = Field(
        default="", description="'1.0'..'1.3'; 'TLSv1.2', 'TLS 1.2' also accepted."
    )
    require_encryption_at_rest: bool = False
    allowed_ciphers: list[str] = Field(default_factory=list)


class ComplianceConfig(Message):
    frameworks: list[ComplianceFrameworkField] = Field(default_factory=list)
    data_retention_days: Uint32 = 0
    audit_config: AuditConfig = Field(default_factory=AuditConfig)
    encryption: EncryptionConfig = Field(default_factory=EncryptionConfig)


class IPv6SecurityConfig(Message):
    """One VM's or tenant's IPv6 security policy (seed message ``IPv6SecurityConfig``)."""

    profile: SecurityProfileField = Field(
        default=SecurityProfile.UNSPECIFIED, validation_alias=AliasChoices("profile", "security_profile")
    )
    ra_guard: RAGuardConfig = Field(default_factory=RAGuardConfig)
    source_validation: SourceValidationConfig = Field(default_factory=SourceValidationConfig)
    extension_headers: ExtensionHeaderConfig = Field(default_factory=ExtensionHeaderConfig)
    isolation: NetworkIsolationConfig = Field(default_factory=NetworkIsolationConfig)
    rate_limits: RateLimitConfig = Field(default_factory=RateLimitConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    compliance: ComplianceConfig = Field(default_factory=ComplianceConfig)


SECTIONS: tuple[str, ...] = tuple(name for name in IPv6SecurityConfig.model_fields if name != "profile")


class VLANConfig(Message):
    vlan_id: Uint32 = 0
    priority: Uint32 = Field(default=0, description="802.1p priority code point, 0-7.")
    name: str = ""


class NetworkInterfaceConfig(Message):
    name: str = ""
    mac_address: str = Field(default="", description="Auto-generated when empty.")
    mtu: Uint32 = Field(default=0, description="0 = the host default; otherwise at least 1280 (RFC 8200 section 5).")
    vlan: VLANConfig | None = None


class IPv6Config(Message):
    """The VM-side ``ipv6_config`` of a ``CreateVm`` request."""

    enabled: bool = False
    addresses: list[str] = Field(default_factory=list, description="Interface addresses, 'address/length'.")
    security: IPv6SecurityConfig = Field(default_factory=IPv6SecurityConfig)
    interface: NetworkInterfaceConfig | None = None


class VmConfig(BaseModel):
    """The part of a ``CreateVm`` config v6ops reads; cpu, memory, boot, storage belong to the VM manager."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ipv6_config: IPv6Config = Field(default_factory=IPv6Config)


class CreateVmRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    config: VmConfig


class HostIPv6Section(IPv6SecurityConfig):
    """``metald.network.ipv6`` of a host file: host-wide sections, or defaults plus one config per customer."""

    enabled: bool = False
    default_security: IPv6SecurityConfig | None = None
    customer_configs: dict[str, IPv6SecurityConfig] = Field(default_factory=dict)


class HostNetwork(Message):
    ipv6: HostIPv6Section


class HostMetald(BaseModel):
    """``metald:`` may hold other subsystems' settings; only ``network.ipv6`` is ours."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    network: HostNetwork


class HostFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    metald: HostMetald


def field_leaves(dumped: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A dumped message as ``{"ra_guard.block_config.block_rdnss": True, ...}``: the paths ``origins`` uses."""
    out: dict[str, Any] = {}
    for key, value in dumped.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(field_leaves(value, path + "."))
        else:
            out[path] = value
    return out


class DocumentShape(StrEnum):
    """Which of the seed's file layouts a document uses."""

    SECURITY = "security"  # a bare IPv6SecurityConfig
    IPV6_CONFIG = "ipv6-config"  # a VM-side IPv6Config
    VM_REQUEST = "vm-request"  # {"config": {"ipv6_config": ...}} (CreateVm)
    HOST = "host"  # metald.network.ipv6 with host-wide sections
    MULTI_TENANT = "multi-tenant"  # metald.network.ipv6 with customer_configs


class PolicyTarget(BaseModel):
    """One VM or tenant with its effective policy: profile defaults already merged in.

    ``origins`` maps a dotted field path of ``security`` (``ra_guard.allowed_routers``)
    to the document path that supplied it, so problems point at the line to fix.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    security: IPv6SecurityConfig
    enabled: bool = True
    addresses: list[str] = Field(default_factory=list)
    interface: NetworkInterfaceConfig | None = None
    document_path: str = Field(default="", description="Where this target's own settings live in the document.")
    config_path: str = Field(default="", description="Document path of the VM's ipv6_config (addresses, interface).")
    origins: dict[str, str] = Field(default_factory=dict, repr=False)

    def source_of(self, field_path: str) -> str:
        """The document path of ``field_path`` (``ra_guard.allowed_routers[0]``), or the profile that set it."""
        probe = field_path
        while probe:
            if probe in self.origins:
                return self.origins[probe] + field_path[len(probe):]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        base = self.document_path
        return f"{base}.{field_path}" if base and field_path else (base or field_path)


class PolicyDocument(BaseModel):
    """A loaded policy file: its layout and the targets (VMs or tenants) it defines."""

    model_config = ConfigDict(frozen=True)

    source: str
    shape: DocumentShape
    targets: list[PolicyTarget]
