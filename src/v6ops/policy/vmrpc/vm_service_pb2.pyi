from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SecurityProfile(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SECURITY_PROFILE_UNSPECIFIED: _ClassVar[SecurityProfile]
    SECURITY_PROFILE_HIGH: _ClassVar[SecurityProfile]
    SECURITY_PROFILE_MEDIUM: _ClassVar[SecurityProfile]
    SECURITY_PROFILE_LOW: _ClassVar[SecurityProfile]
    SECURITY_PROFILE_CUSTOM: _ClassVar[SecurityProfile]

class ExtensionHeaderMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXTENSION_HEADER_MODE_UNSPECIFIED: _ClassVar[ExtensionHeaderMode]
    EXTENSION_HEADER_MODE_ALLOW_ALL: _ClassVar[ExtensionHeaderMode]
    EXTENSION_HEADER_MODE_BLOCK_ALL: _ClassVar[ExtensionHeaderMode]
    EXTENSION_HEADER_MODE_SELECTIVE: _ClassVar[ExtensionHeaderMode]

class FragmentPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAGMENT_POLICY_UNSPECIFIED: _ClassVar[FragmentPolicy]
    FRAGMENT_POLICY_ALLOW: _ClassVar[FragmentPolicy]
    FRAGMENT_POLICY_BLOCK: _ClassVar[FragmentPolicy]
    FRAGMENT_POLICY_REASSEMBLE: _ClassVar[FragmentPolicy]

class InterTenantPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTER_TENANT_POLICY_UNSPECIFIED: _ClassVar[InterTenantPolicy]
    INTER_TENANT_POLICY_BLOCK_ALL: _ClassVar[InterTenantPolicy]
    INTER_TENANT_POLICY_ALLOW_ALL: _ClassVar[InterTenantPolicy]
    INTER_TENANT_POLICY_SELECTIVE: _ClassVar[InterTenantPolicy]

class RateLimitMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATE_LIMIT_METHOD_UNSPECIFIED: _ClassVar[RateLimitMethod]
    RATE_LIMIT_METHOD_TOKEN_BUCKET: _ClassVar[RateLimitMethod]
    RATE_LIMIT_METHOD_LEAKY_BUCKET: _ClassVar[RateLimitMethod]
    RATE_LIMIT_METHOD_SLIDING_WINDOW: _ClassVar[RateLimitMethod]

class LogLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_LEVEL_UNSPECIFIED: _ClassVar[LogLevel]
    LOG_LEVEL_DEBUG: _ClassVar[LogLevel]
    LOG_LEVEL_INFO: _ClassVar[LogLevel]
    LOG_LEVEL_WARN: _ClassVar[LogLevel]
    LOG_LEVEL_ERROR: _ClassVar[LogLevel]
    LOG_LEVEL_CRITICAL: _ClassVar[LogLevel]

class ComplianceFramework(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPLIANCE_FRAMEWORK_UNSPECIFIED: _ClassVar[ComplianceFramework]
    COMPLIANCE_FRAMEWORK_SOC2: _ClassVar[ComplianceFramework]
    COMPLIANCE_FRAMEWORK_PCI_DSS: _ClassVar[ComplianceFramework]
    COMPLIANCE_FRAMEWORK_GDPR: _ClassVar[ComplianceFramework]
    COMPLIANCE_FRAMEWORK_HIPAA: _ClassVar[ComplianceFramework]
    COMPLIANCE_FRAMEWORK_ISO27001: _ClassVar[ComplianceFramework]
SECURITY_PROFILE_UNSPECIFIED: SecurityProfile
SECURITY_PROFILE_HIGH: SecurityProfile
SECURITY_PROFILE_MEDIUM: SecurityProfile
SECURITY_PROFILE_LOW: SecurityProfile
SECURITY_PROFILE_CUSTOM: SecurityProfile
EXTENSION_HEADER_MODE_UNSPECIFIED: ExtensionHeaderMode
EXTENSION_HEADER_MODE_ALLOW_ALL: ExtensionHeaderMode
EXTENSION_HEADER_MODE_BLOCK_ALL: ExtensionHeaderMode
EXTENSION_HEADER_MODE_SELECTIVE: ExtensionHeaderMode
FRAGMENT_POLICY_UNSPECIFIED: FragmentPolicy
FRAGMENT_POLICY_ALLOW: FragmentPolicy
FRAGMENT_POLICY_BLOCK: FragmentPolicy
FRAGMENT_POLICY_REASSEMBLE: FragmentPolicy
INTER_TENANT_POLICY_UNSPECIFIED: InterTenantPolicy
INTER_TENANT_POLICY_BLOCK_ALL: InterTenantPolicy
INTER_TENANT_POLICY_ALLOW_ALL: InterTenantPolicy
INTER_TENANT_POLICY_SELECTIVE: InterTenantPolicy
RATE_LIMIT_METHOD_UNSPECIFIED: RateLimitMethod
RATE_LIMIT_METHOD_TOKEN_BUCKET: RateLimitMethod
RATE_LIMIT_METHOD_LEAKY_BUCKET: RateLimitMethod
RATE_LIMIT_METHOD_SLIDING_WINDOW: RateLimitMethod
LOG_LEVEL_UNSPECIFIED: LogLevel
LOG_LEVEL_DEBUG: LogLevel
LOG_LEVEL_INFO: LogLevel
LOG_LEVEL_WARN: LogLevel
LOG_LEVEL_ERROR: LogLevel
LOG_LEVEL_CRITICAL: LogLevel
COMPLIANCE_FRAMEWORK_UNSPECIFIED: ComplianceFramework
COMPLIANCE_FRAMEWORK_SOC2: ComplianceFramework
COMPLIANCE_FRAMEWORK_PCI_DSS: ComplianceFramework
COMPLIANCE_FRAMEWORK_GDPR: ComplianceFramework
COMPLIANCE_FRAMEWORK_HIPAA: ComplianceFramework
COMPLIANCE_FRAMEWORK_ISO27001: ComplianceFramework

class CreateVmRequest(_message.Message):
    __slots__ = ("config", "vm_id", "customer_id", "name", "tier")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    config: VmConfig
    vm_id: str
    customer_id: str
    name: str
    tier: str
    def __init__(self, config: _Optional[_Union[VmConfig, _Mapping]] = ..., vm_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., name: _Optional[str] = ..., tier: _Optional[str] = ...) -> None: ...

class CreateVmResponse(_message.Message):
    __slots__ = ("vm",)
    VM_FIELD_NUMBER: _ClassVar[int]
    vm: Vm
    def __init__(self, vm: _Optional[_Union[Vm, _Mapping]] = ...) -> None: ...

class VmConfig(_message.Message):
    __slots__ = ("ipv6_config",)
    IPV6_CONFIG_FIELD_NUMBER: _ClassVar[int]
    ipv6_config: IPv6Config
    def __init__(self, ipv6_config: _Optional[_Union[IPv6Config, _Mapping]] = ...) -> None: ...

class IPv6Config(_message.Message):
    __slots__ = ("enabled", "addresses", "security", "interface")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    addresses: _containers.RepeatedScalarFieldContainer[str]
    security: IPv6SecurityConfig
    interface: NetworkInterfaceConfig
    def __init__(self, enabled: _Optional[bool] = ..., addresses: _Optional[_Iterable[str]] = ..., security: _Optional[_Union[IPv6SecurityConfig, _Mapping]] = ..., interface: _Optional[_Union[NetworkInterfaceConfig, _Mapping]] = ...) -> None: ...

class NetworkInterfaceConfig(_message.Message):
    __slots__ = ("name", "mac_address", "mtu", "vlan")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    VLAN_FIELD_NUMBER: _ClassVar[int]
    name: str
    mac_address: str
    mtu: int
    vlan: VLANConfig
    def __init__(self, name: _Optional[str] = ..., mac_address: _Optional[str] = ..., mtu: _Optional[int] = ..., vlan: _Optional[_Union[VLANConfig, _Mapping]] = ...) -> None: ...

class VLANConfig(_message.Message):
    __slots__ = ("vlan_id", "priority", "name")
    VLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    vlan_id: int
    priority: int
    name: str
    def __init__(self, vlan_id: _Optional[int] = ..., priority: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class IPv6SecurityConfig(_message.Message):
    __slots__ = ("profile", "ra_guard", "source_validation", "extension_headers", "isolation", "rate_limits", "monitoring", "compliance")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    RA_GUARD_FIELD_NUMBER: _ClassVar[int]
    SOURCE_VALIDATION_FIELD_NUMBER: _ClassVar[int]
    EXTENSION_HEADERS_FIELD_NUMBER: _ClassVar[int]
    ISOLATION_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    MONITORING_FIELD_NUMBER: _ClassVar[int]
    COMPLIANCE_FIELD_NUMBER: _ClassVar[int]
    profile: SecurityProfile
    ra_guard: RAGuardConfig
    source_validation: SourceValidationConfig
    extension_headers: ExtensionHeaderConfig
    isolation: NetworkIsolationConfig
    rate_limits: RateLimitConfig
    monitoring: MonitoringConfig
    compliance: ComplianceConfig
    def __init__(self, profile: _Optional[_Union[SecurityProfile, str]] = ..., ra_guard: _Optional[_Union[RAGuardConfig, _Mapping]] = ..., source_validation: _Optional[_Union[SourceValidationConfig, _Mapping]] = ..., extension_headers: _Optional[_Union[ExtensionHeaderConfig, _Mapping]] = ..., isolation: _Optional[_Union[NetworkIsolationConfig, _Mapping]] = ..., rate_limits: _Optional[_Union[RateLimitConfig, _Mapping]] = ..., monitoring: _Optional[_Union[MonitoringConfig, _Mapping]] = ..., compliance: _Optional[_Union[ComplianceConfig, _Mapping]] = ...) -> None: ...

class RAGuardConfig(_message.Message):
    __slots__ = ("enabled", "block_all_ra", "allowed_routers", "max_ra_rate", "block_config")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    BLOCK_ALL_RA_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ROUTERS_FIELD_NUMBER: _ClassVar[int]
    MAX_RA_RATE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_CONFIG_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    block_all_ra: bool
    allowed_routers: _containers.RepeatedScalarFieldContainer[str]
    max_ra_rate: int
    block_config: RABlockConfig
    def __init__(self, enabled: _Optional[bool] = ..., block_all_ra: _Optional[bool] = ..., allowed_routers: _Optional[_Iterable[str]] = ..., max_ra_rate: _Optional[int] = ..., block_config: _Optional[_Union[RABlockConfig, _Mapping]] = ...) -> None: ...

class RABlockConfig(_message.Message):
    __slots__ = ("block_prefix_info", "block_mtu_options", "block_route_info", "block_rdnss")
    BLOCK_PREFIX_INFO_FIELD_NUMBER: _ClassVar[int]
    BLOCK_MTU_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_ROUTE_INFO_FIELD_NUMBER: _ClassVar[int]
    BLOCK_RDNSS_FIELD_NUMBER: _ClassVar[int]
    block_prefix_info: bool
    block_mtu_options: bool
    block_route_info: bool
    block_rdnss: bool
    def __init__(self, block_prefix_info: _Optional[bool] = ..., block_mtu_options: _Optional[bool] = ..., block_route_info: _Optional[bool] = ..., block_rdnss: _Optional[bool] = ...) -> None: ...

class SourceValidationConfig(_message.Message):
    __slots__ = ("strict_ingress", "strict_egress", "allowed_ingress_prefixes", "allowed_egress_prefixes", "block_private_addresses", "reverse_path_filtering")
    STRICT_INGRESS_FIELD_NUMBER: _ClassVar[int]
    STRICT_EGRESS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_INGRESS_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_EGRESS_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    BLOCK_PRIVATE_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    REVERSE_PATH_FILTERING_FIELD_NUMBER: _ClassVar[int]
    strict_ingress: bool
    strict_egress: bool
    allowed_ingress_prefixes: _containers.RepeatedScalarFieldContainer[str]
    allowed_egress_prefixes: _containers.RepeatedScalarFieldContainer[str]
    block_private_addresses: bool
    reverse_path_filtering: bool
    def __init__(self, strict_ingress: _Optional[bool] = ..., strict_egress: _Optional[bool] = ..., allowed_ingress_prefixes: _Optional[_Iterable[str]] = ..., allowed_egress_prefixes: _Optional[_Iterable[str]] = ..., block_private_addresses: _Optional[bool] = ..., reverse_path_filtering: _Optional[bool] = ...) -> None: ...

class ExtensionHeaderConfig(_message.Message):
    __slots__ = ("mode", "allowed_types", "max_chain_length", "fragment_policy")
    MODE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_TYPES_FIELD_NUMBER: _ClassVar[int]
    MAX_CHAIN_LENGTH_FIELD_NUMBER: _ClassVar[int]
    FRAGMENT_POLICY_FIELD_NUMBER: _ClassVar[int]
    mode: ExtensionHeaderMode
    allowed_types: _containers.RepeatedScalarFieldContainer[int]
    max_chain_length: int
    fragment_policy: FragmentPolicy
    def __init__(self, mode: _Optional[_Union[ExtensionHeaderMode, str]] = ..., allowed_types: _Optional[_Iterable[int]] = ..., max_chain_length: _Optional[int] = ..., fragment_policy: _Optional[_Union[FragmentPolicy, str]] = ...) -> None: ...

class NetworkIsolationConfig(_message.Message):
    __slots__ = ("customer_vlan", "additional_vlans", "network_namespace", "bridge_interface", "inter_tenant_policy")
    CUSTOMER_VLAN_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_VLANS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    BRIDGE_INTERFACE_FIELD_NUMBER: _ClassVar[int]
    INTER_TENANT_POLICY_FIELD_NUMBER: _ClassVar[int]
    customer_vlan: int
    additional_vlans: _containers.RepeatedScalarFieldContainer[int]
    network_namespace: str
    bridge_interface: str
    inter_tenant_policy: InterTenantPolicy
    def __init__(self, customer_vlan: _Optional[int] = ..., additional_vlans: _Optional[_Iterable[int]] = ..., network_namespace: _Optional[str] = ..., bridge_interface: _Optional[str] = ..., inter_tenant_policy: _Optional[_Union[InterTenantPolicy, str]] = ...) -> None: ...

class RateLimitConfig(_message.Message):
    __slots__ = ("max_pps_per_vm", "max_bandwidth_per_vm", "max_connections_per_vm", "method", "burst_config")
    MAX_PPS_PER_VM_FIELD_NUMBER: _ClassVar[int]
    MAX_BANDWIDTH_PER_VM_FIELD_NUMBER: _ClassVar[int]
    MAX_CONNECTIONS_PER_VM_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    BURST_CONFIG_FIELD_NUMBER: _ClassVar[int]
    max_pps_per_vm: int
    max_bandwidth_per_vm: int
    max_connections_per_vm: int
    method: RateLimitMethod
    burst_config: BurstConfig
    def __init__(self, max_pps_per_vm: _Optional[int] = ..., max_bandwidth_per_vm: _Optional[int] = ..., max_connections_per_vm: _Optional[int] = ..., method: _Optional[_Union[RateLimitMethod, str]] = ..., burst_config: _Optional[_Union[BurstConfig, _Mapping]] = ...) -> None: ...

class BurstConfig(_message.Message):
    __slots__ = ("burst_packets", "burst_duration_ms", "recovery_time_s")
    BURST_PACKETS_FIELD_NUMBER: _ClassVar[int]
    BURST_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_TIME_S_FIELD_NUMBER: _ClassVar[int]
    burst_packets: int
    burst_duration_ms: int
    recovery_time_s: int
    def __init__(self, burst_packets: _Optional[int] = ..., burst_duration_ms: _Optional[int] = ..., recovery_time_s: _Optional[int] = ...) -> None: ...

class MonitoringConfig(_message.Message):
    __slots__ = ("enable_security_logging", "security_log_level", "enable_metrics", "metrics_interval_s", "siem_config")
    ENABLE_SECURITY_LOGGING_FIELD_NUMBER: _ClassVar[int]
    SECURITY_LOG_LEVEL_FIELD_NUMBER: _ClassVar[int]
    ENABLE_METRICS_FIELD_NUMBER: _ClassVar[int]
    METRICS_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    SIEM_CONFIG_FIELD_NUMBER: _ClassVar[int]
    enable_security_logging: bool
    security_log_level: LogLevel
    enable_metrics: bool
    metrics_interval_s: int
    siem_config: SIEMConfig
    def __init__(self, enable_security_logging: _Optional[bool] = ..., security_log_level: _Optional[_Union[LogLevel, str]] = ..., enable_metrics: _Optional[bool] = ..., metrics_interval_s: _Optional[int] = ..., siem_config: _Optional[_Union[SIEMConfig, _Mapping]] = ...) -> None: ...

class SIEMConfig(_message.Message):
    __slots__ = ("enabled", "endpoint", "auth_token", "log_format")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LOG_FORMAT_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    endpoint: str
    auth_token: str
    log_format: str
    def __init__(self, enabled: _Optional[bool] = ..., endpoint: _Optional[str] = ..., auth_token: _Optional[str] = ..., log_format: _Optional[str] = ...) -> None: ...

class ComplianceConfig(_message.Message):
    __slots__ = ("frameworks", "data_retention_days", "audit_config", "encryption")
    FRAMEWORKS_FIELD_NUMBER: _ClassVar[int]
    DATA_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    AUDIT_CONFIG_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_FIELD_NUMBER: _ClassVar[int]
    frameworks: _containers.RepeatedScalarFieldContainer[ComplianceFramework]
    data_retention_days: int
    audit_config: AuditConfig
    encryption: EncryptionConfig
    def __init__(self, frameworks: _Optional[_Iterable[_Union[ComplianceFramework, str]]] = ..., data_retention_days: _Optional[int] = ..., audit_config: _Optional[_Union[AuditConfig, _Mapping]] = ..., encryption: _Optional[_Union[EncryptionConfig, _Mapping]] = ...) -> None: ...

class AuditConfig(_message.Message):
    __slots__ = ("enabled", "log_destination", "include_performance_data", "encrypt_logs")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    LOG_DESTINATION_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PERFORMANCE_DATA_FIELD_NUMBER: _ClassVar[int]
    ENCRYPT_LOGS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    log_destination: str
    include_performance_data: bool
    encrypt_logs: bool
    def __init__(self, enabled: _Optional[bool] = ..., log_destination: _Optional[str] = ..., include_performance_data: _Optional[bool] = ..., encrypt_logs: _Optional[bool] = ...) -> None: ...

class EncryptionConfig(_message.Message):
    __slots__ = ("require_tls", "min_tls_version", "require_encryption_at_rest", "allowed_ciphers")
    REQUIRE_TLS_FIELD_NUMBER: _ClassVar[int]
    MIN_TLS_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ENCRYPTION_AT_REST_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_CIPHERS_FIELD_NUMBER: _ClassVar[int]
    require_tls: bool
    min_tls_version: str
    require_encryption_at_rest: bool
    allowed_ciphers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, require_tls: _Optional[bool] = ..., min_tls_version: _Optional[str] = ..., require_encryption_at_rest: _Optional[bool] = ..., allowed_ciphers: _Optional[_Iterable[str]] = ...) -> None: ...

class Problem(_message.Message):
    __slots__ = ("path", "severity", "code", "message")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    path: str
    severity: str
    code: str
    message: str
    def __init__(self, path: _Optional[str] = ..., severity: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Vm(_message.Message):
    __slots__ = ("id", "customer_id", "name", "tier", "version", "profile", "ipv6_config", "compiled_sha256", "created_at", "updated_at", "warnings")
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    IPV6_CONFIG_FIELD_NUMBER: _ClassVar[int]
    COMPILED_SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    name: str
    tier: str
    version: int
    profile: str
    ipv6_config: IPv6Config
    compiled_sha256: str
    created_at: str
    updated_at: str
    warnings: _containers.RepeatedCompositeFieldContainer[Problem]
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., name: _Optional[str] = ..., tier: _Optional[str] = ..., version: _Optional[int] = ..., profile: _Optional[str] = ..., ipv6_config: _Optional[_Union[IPv6Config, _Mapping]] = ..., compiled_sha256: _Optional[str] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., warnings: _Optional[_Iterable[_Union[Problem, _Mapping]]] = ...) -> None: ...

class UpdateVmNetworkSecurityRequest(_message.Message):
    __slots__ = ("vm_id", "security", "update_mask", "expected_version")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    security: IPv6SecurityConfig
    update_mask: _field_mask_pb2.FieldMask
    expected_version: int
    def __init__(self, vm_id: _Optional[str] = ..., security: _Optional[_Union[IPv6SecurityConfig, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpdateVmNetworkSecurityResponse(_message.Message):
    __slots__ = ("vm",)
    VM_FIELD_NUMBER: _ClassVar[int]
    vm: Vm
    def __init__(self, vm: _Optional[_Union[Vm, _Mapping]] = ...) -> None: ...

class GetVmNetworkSecurityRequest(_message.Message):
    __slots__ = ("vm_id",)
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    def __init__(self, vm_id: _Optional[str] = ...) -> None: ...

class GetVmNetworkSecurityResponse(_message.Message):
    __slots__ = ("vm_id", "customer_id", "version", "security", "compiled_sha256")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    COMPILED_SHA256_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    customer_id: str
    version: int
    security: IPv6SecurityConfig
    compiled_sha256: str
    def __init__(self, vm_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., version: _Optional[int] = ..., security: _Optional[_Union[IPv6SecurityConfig, _Mapping]] = ..., compiled_sha256: _Optional[str] = ...) -> None: ...

class GetVmRequest(_message.Message):
    __slots__ = ("vm_id",)
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    def __init__(self, vm_id: _Optional[str] = ...) -> None: ...

class ReplaceVmRequest(_message.Message):
    __slots__ = ("vm_id", "config", "expected_version")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    config: VmConfig
    expected_version: int
    def __init__(self, vm_id: _Optional[str] = ..., config: _Optional[_Union[VmConfig, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class ListVmsRequest(_message.Message):
    __slots__ = ("customer_id", "tier", "profile", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    tier: str
    profile: str
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., tier: _Optional[str] = ..., profile: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVmsResponse(_message.Message):
    __slots__ = ("vms", "next_page_token", "total")
    VMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    vms: _containers.RepeatedCompositeFieldContainer[Vm]
    next_page_token: str
    total: int
    def __init__(self, vms: _Optional[_Iterable[_Union[Vm, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class DeleteVmRequest(_message.Message):
    __slots__ = ("vm_id",)
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    def __init__(self, vm_id: _Optional[str] = ...) -> None: ...

class DeleteVmResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VmVersion(_message.Message):
    __slots__ = ("vm_id", "customer_id", "version", "action", "actor", "ipv6_config", "compiled_sha256", "created_at")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    IPV6_CONFIG_FIELD_NUMBER: _ClassVar[int]
    COMPILED_SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    customer_id: str
    version: int
    action: str
    actor: str
    ipv6_config: IPv6Config
    compiled_sha256: str
    created_at: str
    def __init__(self, vm_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., version: _Optional[int] = ..., action: _Optional[str] = ..., actor: _Optional[str] = ..., ipv6_config: _Optional[_Union[IPv6Config, _Mapping]] = ..., compiled_sha256: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class GetVmHistoryRequest(_message.Message):
    __slots__ = ("vm_id", "at")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    at: str
    def __init__(self, vm_id: _Optional[str] = ..., at: _Optional[str] = ...) -> None: ...

class GetVmHistoryResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[VmVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[VmVersion, _Mapping]]] = ...) -> None: ...

class RollbackVmRequest(_message.Message):
    __slots__ = ("vm_id", "version")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    version: int
    def __init__(self, vm_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...
