"""internet.nl-style IPv6 checks for a domain: its name servers and its web server.

Name servers (internet.nl "Name servers reachable via IPv6"):
- ``ns-aaaa``: every NS host has an AAAA record (the detail gives the count: internet.nl also
  wants at least two);
- ``ns-ipv6-reachable``: each of those addresses answers an SOA query for the domain over IPv6.

Web server (internet.nl "Web server reachable via IPv6"):
- ``web-aaaa``: the domain has an AAAA record;
- ``web-ipv6-reachable``: a TCP connection (and TLS for https) to every AAAA address works;
- ``web-same-content``: the page fetched over IPv6 and over IPv4 has the same status and a body at
  least ``SAME_CONTENT_RATIO`` similar (pages often carry the client's address or a timestamp,
  so byte equality would be too strict).
"""

from __future__ import annotations

import asyncio
import difflib
import ssl
import time
from dataclasses import dataclass
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from v6ops.addr import Address
from v6ops.probe.happy import tcp_connect
from v6ops.probe.resolve import DnsResolver, LookupFailedError, NameNotFoundError
from v6ops.probe.target import Target, TargetError, parse_target

SAME_CONTENT_RATIO = 0.9
MAX_BODY = 256 * 1024


class DomainError(ValueError):
    """A domain that cannot be checked (not a valid name); the message names it."""


@dataclass
class DomainOptions:
    nameservers: list[str]
    scheme: str = "https"
    timeout: float = 3.0
    insecure: bool = False


def _check(check_id: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"id": check_id, "ok": ok, "detail": detail}


async def _soa_over(address: Address, domain: str, timeout: float) -> str | None:
    """None when ``address`` answers an SOA query for ``domain`` with NOERROR and the SOA, else why not."""
    query = dns.message.make_query(domain, "SOA")
    try:
        response = await dns.asyncquery.udp(query, str(address), timeout=timeout)
    except dns.exception.Timeout:
        return f"no answer in {timeout:g} s"
    except (OSError, dns.exception.DNSException) as exc:
        return str(exc) or type(exc).__name__
    if response.rcode() != dns.rcode.NOERROR:
        return f"answered {dns.rcode.to_text(response.rcode())}"
    if not any(r.rdtype == dns.rdatatype.SOA for r in response.answer):
        return "answered without the SOA record"
    return None


async def _nameservers(resolver: DnsResolver, domain: str, timeout: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    hosts = [h.rstrip(".") for h in await resolver.records(domain, "NS")]

    async def one(host: str) -> dict[str, Any]:
        try:
            v6 = await resolver.lookup(host, 6)
        except (NameNotFoundError, LookupFailedError) as exc:
            return {"name": host, "ipv6": [], "answers_over_ipv6": {}, "error": str(exc)}
        answers = dict(zip([str(a) for a in v6], await asyncio.gather(*(_soa_over(a, domain, timeout) for a in v6)),
                           strict=True))
        return {"name": host, "ipv6": [str(a) for a in v6], "answers_over_ipv6": answers, "error": None}

    servers = list(await asyncio.gather(*(one(h) for h in hosts)))
    with_aaaa = [s for s in servers if s["ipv6"]]
    answering = [s for s in with_aaaa if any(v is None for v in s["answers_over_ipv6"].values())]
    checks = [
        _check("ns-aaaa", bool(servers) and len(with_aaaa) == len(servers),
               f"{len(with_aaaa)} of {len(servers)} name servers have AAAA"
               + ("" if not servers or len(with_aaaa) == len(servers) else
                  ": missing on " + ", ".join(s["name"] for s in servers if not s["ipv6"]))),
        _check("ns-ipv6-reachable", bool(with_aaaa) and len(answering) == len(with_aaaa),
               f"{len(answering)} of {len(with_aaaa)} name servers with AAAA answer over IPv6"
               + "".join(f"; {s['name']} {a}: {why}" for s in with_aaaa for a, why in s["answers_over_ipv6"].items()
                         if why)),
    ]
    return servers, checks


async def _fetch(target: Target, address: Address, options: DomainOptions) -> dict[str, Any]:
    """GET the page from one address: status and up to MAX_BODY bytes of body, or the error."""
    out: dict[str, Any] = {"address": str(address), "status": None, "bytes": 0, "error": None, "body": b""}
    start = time.perf_counter()
    try:
        async with asyncio.timeout(options.timeout):
            sock = await tcp_connect(address, target.port)
            context = None
            if target.scheme == "https":
                context = ssl.create_default_context()
                if options.insecure:
                    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            reader, writer = await asyncio.open_connection(sock=sock, ssl=context,
                                                           server_hostname=target.host if context else None)
            try:
                writer.write((f"GET {target.path} HTTP/1.1\r\nHost: {target.authority}\r\nUser-Agent: v6ops-domain\r\n"
                              "Accept: */*\r\nConnection: close\r\n\r\n").encode())
                await writer.drain()
                response = await reader.read(MAX_BODY)
                while len(response) < MAX_BODY and (chunk := await reader.read(MAX_BODY - len(response))):
                    response += chunk
            finally:
                writer.close()
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        out["error"] = f"timed out after {options.timeout:g} s" if isinstance(exc, TimeoutError) else \
            (getattr(exc, "strerror", None) or str(exc))
        return out
    head, _, body = response.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split()
    out["status"] = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    out["body"], out["bytes"] = body, len(body)
    out["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 3)
    return out


async def _web(resolver: DnsResolver, domain: str, options: DomainOptions) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    target = parse_target(f"{options.scheme}://{domain}/")
    v6, v4 = await asyncio.gather(resolver.lookup(domain, 6), resolver.lookup(domain, 4))
    fetched6 = list(await asyncio.gather(*(_fetch(target, a, options) for a in v6)))
    fetched4 = list(await asyncio.gather(*(_fetch(target, a, options) for a in v4[:1])))
    reachable = [f for f in fetched6 if f["error"] is None and f["status"] is not None]
    checks = [
        _check("web-aaaa", bool(v6), f"{len(v6)} AAAA record(s)" if v6 else "no AAAA record"),
        _check("web-ipv6-reachable", bool(v6) and len(reachable) == len(v6),
               f"{len(reachable)} of {len(v6)} IPv6 addresses serve {options.scheme}"
               + "".join(f"; {f['address']}: {f['error']}" for f in fetched6 if f["error"])),
    ]
    similarity: float | None = None
    if reachable and fetched4 and fetched4[0]["error"] is None:
        a, b = reachable[0], fetched4[0]
        similarity = round(difflib.SequenceMatcher(None, a["body"], b["body"], autojunk=False).ratio(), 4)
        same = a["status"] == b["status"] and similarity >= SAME_CONTENT_RATIO
        checks.append(_check("web-same-content", same,
                             f"status {a['status']} over IPv6, {b['status']} over IPv4; bodies {similarity:.0%} alike"))
    else:
        why = "nothing fetched over IPv6" if not reachable else "nothing fetched over IPv4" + (
            f" ({fetched4[0]['error']})" if fetched4 else " (no A record)")
        checks.append(_check("web-same-content", False, f"cannot compare: {why}"))
    web = {"url": f"{options.scheme}://{domain}/", "ipv6": [str(a) for a in v6], "ipv4": [str(a) for a in v4],
           "similarity": similarity,
           "fetches": [{k: v for k, v in f.items() if k != "body"} for f in fetched6 + fetched4]}
    return web, checks


async def check_domain(domain: str, options: DomainOptions) -> dict[str, Any]:
    """Every check for one domain; a bad or missing domain is reported in ``error``, never raised."""
    result: dict[str, Any] = {"domain": domain, "verdict": None, "passed": 0, "total": 0, "checks": [],
                              "nameservers": [], "web": None, "error": None}
    try:
        target = parse_target(domain)
        if target.is_literal or ":" in domain or "/" in domain:
            raise DomainError(f"{domain!r}: expected a domain name, not an address, URL or host:port")
    except (TargetError, DomainError) as exc:
        result.update(verdict="invalid domain", error=str(exc))
        return result
    name = target.host
    result["domain"] = name
    resolver = DnsResolver(options.nameservers, timeout=options.timeout)
    try:
        result["nameservers"], ns_checks = await _nameservers(resolver, name, options.timeout)
        result["web"], web_checks = await _web(resolver, name, options)
    except NameNotFoundError as exc:
        result.update(verdict="no such domain", error=str(exc))
        return result
    except LookupFailedError as exc:
        result.update(verdict="lookup failed", error=str(exc))
        return result
    result["checks"] = ns_checks + web_checks
    result["passed"] = sum(c["ok"] for c in result["checks"])
    result["total"] = len(result["checks"])
    result["verdict"] = "IPv6 ready" if result["passed"] == result["total"] else "not IPv6 ready"
    return result


async def check_domains(domains: list[str], options: DomainOptions) -> dict[str, Any]:
    """Every domain's checks, in input order: the object ``v6ops probe-domain --json`` prints and the API returns."""
    results = await asyncio.gather(*(check_domain(d, options) for d in domains))
    return {"options": {"nameservers": options.nameservers, "scheme": options.scheme, "timeout": options.timeout,
                        "insecure": options.insecure}, "results": list(results)}
