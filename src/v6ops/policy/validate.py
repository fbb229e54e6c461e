"""Semantic checks of a loaded policy: every problem, each at the document path to fix.

The schema already rejected wrong types and unknown keys; here we check meaning
(prefixes, numbers against their registries and ranges, contradictions between
fields and between tenants). Errors stop a config from being applied
(``load_validated``); warnings are reported and the config still applies.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from v6ops.addr import Address, AddressValueError, Prefix, PrefixValueError, address_kind
from v6ops.policy.load import HOST_PATH, LoadResult, from_profile, join_path, load_data, load_file, load_text
from v6ops.policy.problems import Problem, Severity, error, warning
from v6ops.policy.schema import (
    ComplianceFramework,
    DocumentShape,
    ExtensionHeaderMode,
    FragmentPolicy,
    PolicyDocument,
    PolicyTarget,
    SecurityProfile,
    SiemLogFormat,
)

# IANA "IPv6 Extension Header Types" (RFC 7045 section 2, RFC 8200 section 4).
EXTENSION_HEADER_NAMES: dict[int, str] = {
    0: "Hop-by-Hop Options", 43: "Routing", 44: "Fragment", 50: "ESP", 51: "AH", 60: "Destination Options",
    135: "Mobility", 139: "HIP", 140: "Shim6", 253: "Experimental 253", 254: "Experimental 254",
}
# Upper-layer protocols people list in allowed_types by mistake (IANA Protocol Numbers).
UPPER_LAYER_NAMES: dict[int, str] = {
    1: "ICMP", 4: "IPv4", 6: "TCP", 17: "UDP", 33: "DCCP", 41: "IPv6", 47: "GRE", 58: "ICMPv6",
    59: "No Next Header", 132: "SCTP", 136: "UDP-Lite",
}
# RFC 8200 4.1: each extension header at most once, Destination Options at most twice.
MAX_CHAIN_LENGTH = len(EXTENSION_HEADER_NAMES) + 1
FRAGMENT_HEADER = 44
VLAN_RANGE = range(1, 4095)  # IEEE 802.1Q: 0 means priority-tagged only, 4095 is reserved
MIN_IPV6_MTU = 1280  # RFC 8200 section 5
MAX_MTU = 65535
IFNAMSIZ = 16  # Linux: names are at most 15 bytes plus NUL
# RFC 4861 6.2.1 / 10: MinRtrAdvInterval >= 3 s and MIN_DELAY_BETWEEN_RAS = 3 s: one router sends <= 20 RAs/min.
MAX_RA_PER_ROUTER_PER_MINUTE = 20
TLS_VERSIONS = {"1.0": (1, 0), "1.1": (1, 1), "1.2": (1, 2), "1.3": (1, 3)}
TLS13_SUITES = frozenset({
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256",
})
_TLS12_SUITE = re.compile(r"TLS_(ECDHE|DHE|RSA|PSK|ECDH|DH)_[A-Z0-9_]+_WITH_[A-Z0-9_]+")
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}")
_TLS_SPELLING = re.compile(r"(?i)^\s*(?:tls\s*v?\s*)?(\d)\.(\d)\s*$")


# Tenants repeat the same routers and prefixes (fe80::1, 2000::/3); the registry scan is linear.
_kind = lru_cache(maxsize=65536)(address_kind)


def parse_tls_version(text: str) -> tuple[int, int] | None:
    """``1.2``, ``TLSv1.2``, ``TLS 1.2`` -> (1, 2); anything else (SSLv3, 1.4) -> None."""
    match = _TLS_SPELLING.match(text)
    if not match:
        return None
    return TLS_VERSIONS.get(f"{match.group(1)}.{match.group(2)}")


def is_valid_interface_name(name: str) -> bool:
    """Linux dev_valid_name(): 1-15 bytes, not '.'/'..', no '/', ':' or white space."""
    return (0 < len(name.encode()) < IFNAMSIZ and name not in (".", "..")
            and not any(c in "/:" or c.isspace() for c in name))


def is_valid_namespace_name(name: str) -> bool:
    """``ip netns`` names are file names under /run/netns."""
    return 0 < len(name.encode()) < 256 and name not in (".", "..") and "/" not in name and "\0" not in name


class ValidationReport(BaseModel):
    """What ``v6ops policy validate`` prints and ``POST /api/v1/policy/validate`` returns."""

    model_config = ConfigDict(frozen=True)

    source: str
    valid: bool
    shape: DocumentShape | None
    targets: list[str]
    errors: int
    warnings: int
    problems: list[Problem]


class PolicyInvalidError(ValueError):
    """Raised instead of applying a config that has errors."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        first = next((p for p in report.problems if p.severity is Severity.ERROR), None)
        detail = f"{first.path or '(document)'}: {first.message}" if first else "invalid"
        super().__init__(f"{report.source}: {report.errors} error(s); first: {detail}")


class _TargetChecks:
    """Checks of one target; paths are translated to where the value was written."""

    def __init__(self, target: PolicyTarget) -> None:
        self.target = target
        self.sec = target.security
        self.problems: list[Problem] = []

    def err(self, field: str, code: str, message: str, reference: str = "") -> None:
        self.problems.append(error(self.target.source_of(field), code, message, reference, self.target.name))

    def warn(self, field: str, code: str, message: str, reference: str = "") -> None:
        self.problems.append(warning(self.target.source_of(field), code, message, reference, self.target.name))

    def vm_err(self, field: str, code: str, message: str, reference: str = "") -> None:
        path = join_path(self.target.config_path, field)
        self.problems.append(error(path, code, message, reference, self.target.name))

    def vm_warn(self, field: str, code: str, message: str, reference: str = "") -> None:
        path = join_path(self.target.config_path, field)
        self.problems.append(warning(path, code, message, reference, self.target.name))

    def run(self) -> list[Problem]:
        self.profile()
        self.ra_guard()
        self.source_validation()
        self.extension_headers()
        self.isolation()
        self.rate_limits()
        self.monitoring()
        self.compliance()
        self.vm()
        return self.problems

    # -- sections ----------------------------------------------------------

    def profile(self) -> None:
        if not self.target.enabled:
            where = join_path(self.target.config_path, "enabled") if self.target.config_path else "enabled"
            if self.target.document_path.startswith(HOST_PATH):
                where = f"{HOST_PATH}.enabled"
            self.problems.append(warning(where, "ipv6-disabled", "IPv6 is not enabled (enabled: false or missing), so "
                                         "this policy is validated but nothing enforces it", target=self.target.name))
        if self.sec.profile is SecurityProfile.UNSPECIFIED:
            self.warn("profile", "profile-unspecified",
                      "no security profile: no defaults are filled in, every control not written here is off")

    def ra_guard(self) -> None:
        ra = self.sec.ra_guard
        routers: list[Address] = []
        for i, text in enumerate(ra.allowed_routers):
            field = f"ra_guard.allowed_routers[{i}]"
            address = self._address(field, text, "router address")
            if address is None:
                continue
            routers.append(address)
            if _kind(address) != "link-local":
                self.warn(field, "router-not-link-local",
                          f"{text} is not link-local: a valid RA always comes from a link-local source, so this "
                          "entry never matches; list the router's fe80:: address", "RFC 4861 section 6.1.2")
        self._duplicates("ra_guard.allowed_routers", routers, "router")
        if ra.block_all_ra and ra.allowed_routers:
            self.err("ra_guard.allowed_routers", "ra-block-all-with-allowed-routers",
                     "block_all_ra is true, so allowed_routers can never take effect; set block_all_ra: false "
                     "to accept these routers, or remove them", "RFC 6105")
        if ra.block_all_ra and ra.max_ra_rate:
            self.warn("ra_guard.max_ra_rate", "ra-rate-ignored",
                      "max_ra_rate has no effect while block_all_ra is true")
        limit = MAX_RA_PER_ROUTER_PER_MINUTE * max(1, len(ra.allowed_routers))
        if ra.max_ra_rate > limit:
            self.warn("ra_guard.max_ra_rate", "ra-rate-above-legitimate",
                      f"max_ra_rate {ra.max_ra_rate}/min exceeds the {limit}/min that "
                      f"{max(1, len(ra.allowed_routers))} legitimate router(s) can send", "RFC 4861 sections 6.2.1, 10")
        if not ra.enabled and (ra.block_all_ra or ra.allowed_routers or ra.max_ra_rate):
            self.warn("ra_guard.enabled", "ra-guard-disabled",
                      "ra_guard.enabled is false, so its other settings are ignored")
        if ra.enabled and not ra.block_all_ra and not ra.allowed_routers and not ra.max_ra_rate:
            self.warn("ra_guard", "ra-guard-open",
                      "RA guard is on but accepts RAs from any router without a rate limit", "RFC 6105")

    def source_validation(self) -> None:
        sv = self.sec.source_validation
        for key, strict in (("allowed_ingress_prefixes", sv.strict_ingress),
                            ("allowed_egress_prefixes", sv.strict_egress)):
            prefixes: list[Prefix | None] = []
            for i, text in enumerate(getattr(sv, key)):
                prefix = self._prefix(f"source_validation.{key}[{i}]", text)
                prefixes.append(prefix)
                if prefix is not None:
                    self._special_prefix(f"source_validation.{key}[{i}]", prefix,
                                         block_private=sv.block_private_addresses and key.startswith("allowed_ingress"))
            self._overlaps(f"source_validation.{key}", prefixes)
            direction = "ingress" if "ingress" in key else "egress"
            if prefixes and not strict:
                self.warn(f"source_validation.{key}", "prefixes-not-enforced",
                          f"{key} is set but strict_{direction} is false, so the list is not enforced")
            written = not from_profile(self.target.origins, f"source_validation.strict_{direction}")
            if strict and written and not getattr(sv, key):
                self.warn(f"source_validation.strict_{direction}", "strict-without-prefixes",
                          f"strict_{direction} is true but {key} is empty", "BCP 38 (RFC 2827)")

    def extension_headers(self) -> None:
        eh = self.sec.extension_headers
        seen: set[int] = set()
        for i, number in enumerate(eh.allowed_types):
            field = f"extension_headers.allowed_types[{i}]"
            if number in seen:
                self.warn(field, "duplicate-value", f"{number} is listed twice")
            seen.add(number)
            if number in EXTENSION_HEADER_NAMES:
                continue
            if number in UPPER_LAYER_NAMES:
                self.warn(field, "not-an-extension-header",
                          f"{number} is {UPPER_LAYER_NAMES[number]}, an upper-layer protocol, not an IPv6 "
                          "extension header; allowed_types never filters upper layers, so it has no effect",
                          "IANA IPv6 Extension Header Types; RFC 7045 section 2")
            else:
                known = ", ".join(f"{n} {name}" for n, name in EXTENSION_HEADER_NAMES.items())
                self.err(field, "unknown-extension-header",
                         f"{number} is not an IPv6 extension header number; known: {known}",
                         "IANA IPv6 Extension Header Types; RFC 8200 section 4")
        if eh.max_chain_length > MAX_CHAIN_LENGTH:
            self.err("extension_headers.max_chain_length", "chain-length-out-of-range",
                     f"max_chain_length {eh.max_chain_length} is outside 0-{MAX_CHAIN_LENGTH} (0 = no limit): a "
                     f"legal chain has each header at most once, Destination Options twice, so at most "
                     f"{MAX_CHAIN_LENGTH}", "RFC 8200 section 4.1")
        if eh.mode in (ExtensionHeaderMode.ALLOW_ALL, ExtensionHeaderMode.BLOCK_ALL) and eh.allowed_types:
            self.warn("extension_headers.allowed_types", "allowed-types-ignored",
                      f"allowed_types is ignored in mode {eh.mode.value}; use SELECTIVE")
        if eh.mode is ExtensionHeaderMode.SELECTIVE and not eh.allowed_types:
            self.warn("extension_headers.allowed_types", "selective-without-types",
                      "mode SELECTIVE with no allowed_types blocks every extension header, like BLOCK_ALL")
        if eh.mode is ExtensionHeaderMode.BLOCK_ALL and eh.max_chain_length:
            self.warn("extension_headers.max_chain_length", "chain-length-ignored",
                      "max_chain_length has no effect in mode BLOCK_ALL")
        listed = FRAGMENT_HEADER in eh.allowed_types
        if eh.fragment_policy is FragmentPolicy.BLOCK and listed and eh.mode is ExtensionHeaderMode.SELECTIVE:
            self.err("extension_headers.fragment_policy", "fragment-contradiction",
                     "fragment_policy BLOCK contradicts 44 (Fragment) in allowed_types", "RFC 8200 section 4.5")
        if eh.fragment_policy in (FragmentPolicy.ALLOW, FragmentPolicy.REASSEMBLE) and not listed \
                and eh.mode is ExtensionHeaderMode.SELECTIVE:
            self.warn("extension_headers.fragment_policy", "fragment-not-listed",
                      f"fragment_policy {eh.fragment_policy.value} has no effect: mode SELECTIVE without 44 (Fragment) "
                      "in allowed_types drops every fragment; add 44 to admit them", "RFC 8200 section 4.5")
        if eh.fragment_policy is FragmentPolicy.BLOCK and eh.mode is ExtensionHeaderMode.ALLOW_ALL:
            self.warn("extension_headers.fragment_policy", "fragment-blocked-in-allow-all",
                      "mode ALLOW_ALL but fragment_policy BLOCK: fragments are still dropped")

    def isolation(self) -> None:
        iso = self.sec.isolation
        if iso.customer_vlan and iso.customer_vlan not in VLAN_RANGE:
            self.err("isolation.customer_vlan", "vlan-out-of-range",
                     f"VLAN {iso.customer_vlan} is outside 1-4094 (0 = no VLAN)", "IEEE 802.1Q section 9.6")
        for i, vlan in enumerate(iso.additional_vlans):
            field = f"isolation.additional_vlans[{i}]"
            if vlan not in VLAN_RANGE:
                self.err(field, "vlan-out-of-range", f"VLAN {vlan} is outside 1-4094", "IEEE 802.1Q section 9.6")
            elif vlan == iso.customer_vlan or vlan in iso.additional_vlans[:i]:
                self.err(field, "duplicate-vlan", f"VLAN {vlan} is already used by this tenant")
        if iso.additional_vlans and not iso.customer_vlan:
            self.warn("isolation.additional_vlans", "additional-without-customer-vlan",
                      "additional_vlans without customer_vlan: there is no outer VLAN to stack them on")
        if iso.network_namespace and not is_valid_namespace_name(iso.network_namespace):
            self.err("isolation.network_namespace", "bad-namespace-name",
                     f"{iso.network_namespace!r} is not a usable network namespace name (no '/', not '.' or '..')")
        if iso.bridge_interface and not is_valid_interface_name(iso.bridge_interface):
            self.err("isolation.bridge_interface", "bad-interface-name",
                     f"{iso.bridge_interface!r} is not a Linux interface name (1-15 bytes, no '/', ':' or spaces)")

    def rate_limits(self) -> None:
        rl = self.sec.rate_limits
        burst = rl.burst_config
        # exact integers: pps * ms can exceed a float's 53-bit mantissa
        window_ms = rl.max_pps_per_vm * burst.burst_duration_ms
        if burst.burst_packets and window_ms and burst.burst_packets * 1000 > window_ms:
            self.err("rate_limits.burst_config.burst_packets", "burst-exceeds-window",
                     f"burst of {burst.burst_packets} packets in {burst.burst_duration_ms} ms exceeds the "
                     f"{window_ms // 1000} packets that max_pps_per_vm {rl.max_pps_per_vm} allows in that window")
        if burst.burst_packets and not burst.burst_duration_ms:
            self.warn("rate_limits.burst_config.burst_duration_ms", "burst-without-window",
                      "burst_packets is set but burst_duration_ms is 0, so the burst window is undefined")
        if burst.burst_duration_ms and not burst.burst_packets:
            self.warn("rate_limits.burst_config.burst_packets", "window-without-burst",
                      "burst_duration_ms is set but burst_packets is 0")
        if burst.burst_packets and not rl.max_pps_per_vm:
            self.warn("rate_limits.burst_config", "burst-without-rate",
                      "a burst allowance without max_pps_per_vm has nothing to burst above")
        if 0 < rl.max_bandwidth_per_vm < MIN_IPV6_MTU:
            self.warn("rate_limits.max_bandwidth_per_vm", "bandwidth-below-min-mtu",
                      f"{rl.max_bandwidth_per_vm} bytes/s cannot carry one {MIN_IPV6_MTU}-byte packet per second "
                      "(the field is bytes per second, not bits)", "RFC 8200 section 5")

    def monitoring(self) -> None:
        mon = self.sec.monitoring
        siem = mon.siem_config
        if mon.enable_metrics and not mon.metrics_interval_s:
            self.warn("monitoring.metrics_interval_s", "metrics-interval-missing",
                      "enable_metrics is true but metrics_interval_s is 0")
        if siem.enabled:
            if not siem.endpoint:
                self.err("monitoring.siem_config.endpoint", "siem-endpoint-missing", "SIEM is enabled without endpoint")
            if siem.log_format is SiemLogFormat.UNSPECIFIED:
                self.warn("monitoring.siem_config.log_format", "siem-format-missing",
                          "SIEM is enabled without log_format (JSON, CEF or LEEF)")
        if siem.endpoint:
            self._url("monitoring.siem_config.endpoint", siem.endpoint,
                      has_token=bool(siem.auth_token.get_secret_value()))

    def compliance(self) -> None:
        comp = self.sec.compliance
        counts = Counter(comp.frameworks)
        for i, framework in enumerate(comp.frameworks):
            if framework is ComplianceFramework.UNSPECIFIED:
                self.warn(f"compliance.frameworks[{i}]", "framework-unspecified", "UNSPECIFIED is not a framework")
            elif counts[framework] > 1 and comp.frameworks.index(framework) != i:
                self.warn(f"compliance.frameworks[{i}]", "duplicate-value", f"{framework.value} is listed twice")
        audit = comp.audit_config
        if audit.enabled and not audit.log_destination:
            self.err("compliance.audit_config.log_destination", "audit-destination-missing",
                     "audit logging is enabled without log_destination")
        if audit.log_destination and not (audit.log_destination.startswith("/") or "://" in audit.log_destination):
            self.err("compliance.audit_config.log_destination", "audit-destination-relative",
                     f"{audit.log_destination!r} is neither an absolute path nor a URL")
        enc = comp.encryption
        version = parse_tls_version(enc.min_tls_version) if enc.min_tls_version else None
        if enc.min_tls_version and version is None:
            self.err("compliance.encryption.min_tls_version", "unknown-tls-version",
                     f"{enc.min_tls_version!r} is not a TLS version; use one of {', '.join(TLS_VERSIONS)}",
                     "RFC 8446, RFC 8996")
        elif version is not None and version < (1, 2):
            self.warn("compliance.encryption.min_tls_version", "deprecated-tls-version",
                      f"TLS {enc.min_tls_version} is deprecated", "RFC 8996")
        if enc.min_tls_version and not enc.require_tls:
            self.warn("compliance.encryption.min_tls_version", "tls-not-required",
                      "min_tls_version is set but require_tls is false, so plain text is still accepted")
        known = [c for c in enc.allowed_ciphers if c in TLS13_SUITES or _TLS12_SUITE.fullmatch(c)]
        for i, cipher in enumerate(enc.allowed_ciphers):
            if cipher not in known:
                self.warn(f"compliance.encryption.allowed_ciphers[{i}]", "unknown-cipher",
                          f"{cipher!r} is not an IANA TLS cipher suite name (TLS_AES_256_GCM_SHA384 style)",
                          "IANA TLS Cipher Suites registry")
        if version == (1, 3) and known and not any(c in TLS13_SUITES for c in known):
            self.err("compliance.encryption.allowed_ciphers", "no-tls13-cipher",
                     "min_tls_version 1.3 but no TLS 1.3 cipher suite is allowed, so no connection can succeed",
                     "RFC 8446 appendix B.4")

    def vm(self) -> None:
        for i, text in enumerate(self.target.addresses):
            self._interface_address(f"addresses[{i}]", text)
        nic = self.target.interface
        if nic is None:
            return
        if nic.name and not is_valid_interface_name(nic.name):
            self.vm_err("interface.name", "bad-interface-name",
                        f"{nic.name!r} is not a Linux interface name (1-15 bytes, no '/', ':' or spaces)")
        if nic.mtu and not MIN_IPV6_MTU <= nic.mtu <= MAX_MTU:
            self.vm_err("interface.mtu", "mtu-out-of-range",
                        f"MTU {nic.mtu} is outside {MIN_IPV6_MTU}-{MAX_MTU}", "RFC 8200 section 5")
        if nic.mac_address:
            self._mac("interface.mac_address", nic.mac_address)
        if nic.vlan is not None:
            if nic.vlan.vlan_id not in VLAN_RANGE:
                self.vm_err("interface.vlan.vlan_id", "vlan-out-of-range",
                            f"VLAN {nic.vlan.vlan_id} is outside 1-4094", "IEEE 802.1Q section 9.6")
            if nic.vlan.priority > 7:
                self.vm_err("interface.vlan.priority", "vlan-priority-out-of-range",
                            f"priority {nic.vlan.priority} is outside 0-7", "IEEE 802.1Q (PCP is 3 bits)")
            customer = self.sec.isolation.customer_vlan
            if customer and nic.vlan.vlan_id in VLAN_RANGE and nic.vlan.vlan_id != customer:
                self.vm_warn("interface.vlan.vlan_id", "vlan-mismatch",
                             f"interface VLAN {nic.vlan.vlan_id} differs from isolation.customer_vlan {customer}")

    # -- helpers -----------------------------------------------------------

    def _address(self, field: str, text: str, what: str) -> Address | None:
        try:
            address = Address.parse(text)
        except (AddressValueError, PrefixValueError) as exc:
            self.err(field, "bad-address", f"bad {what}: {exc}")
            return None
        if address.version != 6:
            self.err(field, "not-ipv6", f"{text} is IPv4; this policy filters IPv6")
            return None
        return address

    def _prefix(self, field: str, text: str) -> Prefix | None:
        try:
            prefix = Prefix.parse(text)
        except PrefixValueError as exc:
            code = "prefix-not-on-boundary" if "host bits" in exc.reason else "bad-prefix"
            self.err(field, code, str(exc), "RFC 4291 section 2.3")
            return None
        except AddressValueError as exc:
            self.err(field, "bad-prefix", str(exc), "RFC 4291 section 2.3")
            return None
        if prefix.version != 6:
            self.err(field, "not-ipv6", f"{text} is an IPv4 prefix; this policy filters IPv6")
            return None
        return prefix

    def _special_prefix(self, field: str, prefix: Prefix, block_private: bool) -> None:
        kind = _kind(prefix)
        if block_private and kind == "ula":
            self.err(field, "private-prefix-allowed",
                     f"{prefix} is unique-local, which block_private_addresses drops: the two settings contradict",
                     "RFC 4193")
        elif kind not in ("global", "ula"):
            self.warn(field, "special-purpose-prefix",
                      f"{prefix} is in {kind} space, not global unicast", "RFC 6890; IANA IPv6 Special-Purpose")

    def _overlaps(self, field: str, prefixes: list[Prefix | None]) -> None:
        """Entries inside (or equal to) an earlier-sorted one; a sweep, so long lists stay O(n log n)."""
        ordered = sorted((p.network, p.length, i, p) for i, p in enumerate(prefixes) if p is not None)
        open_: list[Prefix] = []  # chain of prefixes containing the current one
        for _, _, i, prefix in ordered:
            while open_ and not open_[-1].contains(prefix):
                open_.pop()
            if open_:
                what = "repeats" if open_[-1] == prefix else "is inside"
                self.warn(f"{field}[{i}]", "redundant-prefix", f"{prefix} {what} {open_[-1]}")
            open_.append(prefix)

    def _duplicates(self, field: str, items: list[Address], what: str) -> None:
        for item, count in Counter(items).items():
            if count > 1:
                self.warn(field, "duplicate-value", f"{what} {item} is listed {count} times")

    def _url(self, field: str, url: str, has_token: bool) -> None:
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for a bad port, e.g. an unbracketed IPv6 literal
        except ValueError as exc:
            hint = "; an IPv6 address must be in brackets: https://[2001:db8::1]/" if url.count(":") > 2 else ""
            self.err(field, "bad-url", f"not a URL: {exc}{hint}", "RFC 3986 section 3.2.2")
            return
        if parts.scheme not in ("https", "http") or not host:
            self.err(field, "bad-url", "must be an http(s) URL with a host", "RFC 3986 section 3.2.2")
            return
        if "[" in parts.netloc:
            try:
                Address.parse(host, allow_zone=True)
            except AddressValueError as exc:
                self.err(field, "bad-url", f"bracketed host is not an IPv6 address: {exc}", "RFC 3986 section 3.2.2")
                return
        if parts.scheme == "http" and has_token:
            self.warn(field, "token-in-clear", "the SIEM auth token would cross the network unencrypted; use https")

    def _interface_address(self, field: str, text: str) -> None:
        address_text = text.split("/", 1)[0]
        try:
            Prefix.parse(text, strict=False)
            address = Address.parse(address_text)
        except (AddressValueError, PrefixValueError) as exc:
            self.vm_err(field, "bad-address", str(exc), "RFC 4291 section 2.2")
            return
        if address.version != 6:
            self.vm_err(field, "not-ipv6", f"{text} is IPv4; ipv6_config.addresses holds IPv6 addresses")
            return
        kind = _kind(address)
        if kind in ("multicast", "unspecified", "loopback", "ipv4-mapped"):
            self.vm_err(field, "unusable-interface-address",
                        f"{address_text} is {kind} and cannot be assigned to an interface", "RFC 4291 sections 2.5, 2.7")
        elif kind == "ula" and self.sec.source_validation.block_private_addresses:
            self.vm_warn(field, "own-address-private",
                         f"{address_text} is unique-local while block_private_addresses drops unique-local sources: "
                         "peers on the same ULA network cannot reach this VM", "RFC 4193")

    def _mac(self, field: str, text: str) -> None:
        if not _MAC.fullmatch(text):
            self.vm_err(field, "bad-mac", f"{text!r} is not a MAC address like 02:00:00:00:00:01")
            return
        first = int(text[:2], 16)
        if first & 1:
            self.vm_err(field, "multicast-mac", f"{text} is a multicast MAC (I/G bit set)", "IEEE 802 (I/G bit)")
        elif int(re.sub("[:-]", "", text), 16) == 0:
            self.vm_err(field, "bad-mac", "the all-zero MAC address cannot be assigned")


def _shared_resources(targets: Iterable[PolicyTarget]) -> list[Problem]:
    """Tenants must not share a VLAN, namespace or bridge: that would join what isolation separates."""
    problems: list[Problem] = []
    owners: dict[tuple[str, Any], str] = {}
    for target in targets:
        iso = target.security.isolation
        used: list[tuple[str, str, Any]] = [("isolation.customer_vlan", "VLAN", iso.customer_vlan)]
        used += [(f"isolation.additional_vlans[{i}]", "VLAN", v) for i, v in enumerate(iso.additional_vlans)]
        used += [("isolation.network_namespace", "namespace", iso.network_namespace),
                 ("isolation.bridge_interface", "bridge", iso.bridge_interface)]
        for field, what, value in used:
            if not value:
                continue
            owner = owners.setdefault((what, value), target.name)
            if owner != target.name:
                problems.append(error(target.source_of(field), "shared-isolation",
                                      f"{what} {value} is also used by {owner}: tenants would share it",
                                      target=target.name))
    return problems


def validate_target(target: PolicyTarget) -> list[Problem]:
    return _TargetChecks(target).run()


def validate_document(document: PolicyDocument) -> list[Problem]:
    problems = [p for target in document.targets for p in validate_target(target)]
    if len(document.targets) > 1:
        problems += _shared_resources(document.targets)
    return problems


def _dedupe(problems: Iterable[Problem]) -> list[Problem]:
    """A default shared by many tenants is reported once, not once per tenant."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for p in problems:
        key = (p.path, p.code, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def report_for(result: LoadResult) -> ValidationReport:
    problems = list(result.problems)
    if result.document is not None:
        problems += result.located(validate_document(result.document))
    problems = _dedupe(problems)
    errors = sum(p.severity is Severity.ERROR for p in problems)
    return ValidationReport(
        source=result.source, valid=errors == 0 and result.document is not None,
        shape=result.document.shape if result.document else None,
        targets=[t.name for t in result.document.targets] if result.document else [],
        errors=errors, warnings=len(problems) - errors, problems=problems,
    )


def validate_file(path: str | Path, **kwargs: Any) -> ValidationReport:
    return report_for(load_file(path, **kwargs))


def validate_text(text: str, source: str, **kwargs: Any) -> ValidationReport:
    return report_for(load_text(text, source, **kwargs))


def validate_data(data: Any, source: str, **kwargs: Any) -> ValidationReport:
    return report_for(load_data(data, source, **kwargs))


def load_validated(path: str | Path, **kwargs: Any) -> PolicyDocument:
    """The only way to get a document for applying: raises ``PolicyInvalidError`` when any error exists."""
    result = load_file(path, **kwargs)
    report = report_for(result)
    if not report.valid or result.document is None:
        raise PolicyInvalidError(report)
    return result.document
