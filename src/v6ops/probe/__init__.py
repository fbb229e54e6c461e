"""Verify from the outside: dual-stack probes, Happy Eyeballs v2, PMTU and domain checks, dual-stack ASGI helpers.

The public names: ``connect`` / ``open_connection`` (the RFC 8305 racer, returning a connected
socket or asyncio streams), ``HappyEyeballsTransport`` (the racer under httpx), ``probe_target`` /
``run_probes`` (the probe behind ``v6ops probe`` and ``POST /api/v1/probes``), ``check_domains``,
``pmtu_check`` and ``ClientAddressMiddleware``.
"""

from v6ops.probe.asgi import ClientAddress, ClientAddressMiddleware
from v6ops.probe.domain import DomainOptions, check_domains
from v6ops.probe.happy import HappyEyeballsError, RaceTrace, connect, open_connection
from v6ops.probe.pmtu import pmtu_check
from v6ops.probe.resolve import DnsResolver, NameNotFoundError, Resolver
from v6ops.probe.run import ProbeItem, ProbeOptions, probe_target, run_probes
from v6ops.probe.target import Target, TargetError, parse_target
from v6ops.probe.transport import HappyEyeballsBackend, HappyEyeballsTransport

__all__ = [
    "ClientAddress",
    "ClientAddressMiddleware",
    "DnsResolver",
    "DomainOptions",
    "HappyEyeballsBackend",
    "HappyEyeballsError",
    "HappyEyeballsTransport",
    "NameNotFoundError",
    "ProbeItem",
    "ProbeOptions",
    "RaceTrace",
    "Resolver",
    "Target",
    "TargetError",
    "check_domains",
    "connect",
    "open_connection",
    "parse_target",
    "pmtu_check",
    "probe_target",
    "run_probes",
]
