"""Documented defaults for each security profile, merged under whatever a config states.

Kept as plain dicts because merging happens on the document before the model is
built (see ``v6ops.policy.load``); ``docs/policy-profiles.md`` is generated from
this table by ``profile_table_markdown`` and a test keeps the two identical.
"""

from __future__ import annotations

from typing import Any

from v6ops.policy.schema import IPv6SecurityConfig, SecurityProfile, field_leaves

TLS13_SUITES = ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]

PROFILE_DEFAULTS: dict[SecurityProfile, dict[str, Any]] = {
    SecurityProfile.HIGH: {
        "ra_guard": {
            "enabled": True, "block_all_ra": True, "max_ra_rate": 0,
            "block_config": {"block_prefix_info": True, "block_mtu_options": True,
                             "block_route_info": True, "block_rdnss": True},
        },
        "source_validation": {"strict_ingress": True, "strict_egress": True,
                              "block_private_addresses": True, "reverse_path_filtering": True},
        "extension_headers": {"mode": "SELECTIVE", "allowed_types": [0, 44, 50, 51, 60],
                              "max_chain_length": 4, "fragment_policy": "REASSEMBLE"},
        "isolation": {"inter_tenant_policy": "BLOCK_ALL"},
        "rate_limits": {"max_pps_per_vm": 10000, "max_bandwidth_per_vm": 1073741824,
                        "max_connections_per_vm": 10000, "method": "TOKEN_BUCKET",
                        "burst_config": {"burst_packets": 1000, "burst_duration_ms": 100, "recovery_time_s": 1}},
        "monitoring": {"enable_security_logging": True, "security_log_level": "INFO",
                       "enable_metrics": True, "metrics_interval_s": 10},
        "compliance": {
            "data_retention_days": 365,
            "audit_config": {"enabled": True, "log_destination": "/var/log/metald/ipv6-audit.log",
                             "encrypt_logs": True},
            "encryption": {"require_tls": True, "min_tls_version": "1.3", "require_encryption_at_rest": True,
                           "allowed_ciphers": TLS13_SUITES},
        },
    },
    SecurityProfile.MEDIUM: {
        "ra_guard": {"enabled": True, "block_all_ra": False, "max_ra_rate": 10,
                     "block_config": {"block_route_info": True}},
        "source_validation": {"strict_ingress": True, "strict_egress": False,
                              "block_private_addresses": True, "reverse_path_filtering": True},
        "extension_headers": {"mode": "SELECTIVE", "allowed_types": [0, 43, 44, 50, 51, 60],
                              "max_chain_length": 6, "fragment_policy": "ALLOW"},
        "isolation": {"inter_tenant_policy": "BLOCK_ALL"},
        "rate_limits": {"max_pps_per_vm": 50000, "max_bandwidth_per_vm": 2147483648,
                        "max_connections_per_vm": 50000, "method": "TOKEN_BUCKET",
                        "burst_config": {"burst_packets": 5000, "burst_duration_ms": 100, "recovery_time_s": 1}},
        "monitoring": {"enable_security_logging": True, "security_log_level": "WARN",
                       "enable_metrics": True, "metrics_interval_s": 30},
        "compliance": {
            "data_retention_days": 90,
            "audit_config": {"enabled": True, "log_destination": "/var/log/metald/ipv6-audit.log"},
            "encryption": {"require_tls": True, "min_tls_version": "1.2"},
        },
    },
    SecurityProfile.LOW: {
        "ra_guard": {"enabled": True, "block_all_ra": False, "max_ra_rate": 60},
        "extension_headers": {"mode": "ALLOW_ALL", "fragment_policy": "ALLOW"},
        "isolation": {"inter_tenant_policy": "ALLOW_ALL"},
        "rate_limits": {"method": "TOKEN_BUCKET"},
        "monitoring": {"enable_security_logging": True, "security_log_level": "ERROR",
                       "enable_metrics": True, "metrics_interval_s": 60},
    },
    # CUSTOM: the author states every control; nothing is filled in (proto3 zero values).
    SecurityProfile.CUSTOM: {},
    SecurityProfile.UNSPECIFIED: {},
}


def profile_defaults(profile: SecurityProfile) -> IPv6SecurityConfig:
    return IPv6SecurityConfig.model_validate({"profile": profile.value, **PROFILE_DEFAULTS[profile]})


DOCUMENTED_PROFILES = (SecurityProfile.HIGH, SecurityProfile.MEDIUM, SecurityProfile.LOW, SecurityProfile.CUSTOM)


def all_profile_defaults() -> dict[str, dict[str, Any]]:
    """Profile name -> the sections it fills in: what ``policy profiles --json`` and the API return."""
    return {p.value: profile_defaults(p).model_dump(mode="json", exclude={"profile"}) for p in DOCUMENTED_PROFILES}


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if value in ("", 0):
        return "0 (off)" if value == 0 else "(empty)"
    return str(value)


def profile_table_markdown() -> str:
    """One row per field, one column per profile; every field of the schema appears."""
    columns = {name: field_leaves(sections) for name, sections in all_profile_defaults().items()}
    header = "| field | " + " | ".join(columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 1)]
    for field in columns[SecurityProfile.HIGH.value]:
        cells = " | ".join(_cell(leaves[field]) for leaves in columns.values())
        lines.append(f"| `{field}` | {cells} |")
    return "\n".join(lines) + "\n"
