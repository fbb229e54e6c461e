"""The customer notification of the seed, rendered per subscriber from a template the operator can replace."""

from __future__ import annotations

from pathlib import Path

import jinja2

from v6ops.ipam.errors import IpamError
from v6ops.ipam.provisioning.inventory import ServiceRecord

DEFAULT_TEMPLATE = """\
Subject: Your Internet Connection Now Supports IPv6

Dear Customer,

We're pleased to announce that your internet connection now supports
IPv6, the next generation of internet protocol.

What this means for you:
- Better connectivity to modern websites and services
- Improved performance for IPv6-enabled applications
- Future-proof internet access

Your services:
{% if ipv4 %}- IPv4 Address: {{ ipv4 }}
{% endif %}{% if ipv6_address %}- IPv6 Address: {{ ipv6_address }}
{% endif %}{% if ipv6_prefix %}- IPv6 Prefix: {{ ipv6_prefix }}
{% endif %}{% if dns_name %}- Name: {{ dns_name }}
{% endif %}
No action required. Your devices will automatically use IPv6 when available.

For questions, contact support@isp.com

Best regards,
Your ISP Team
"""


def load_template(path: Path | None) -> jinja2.Template:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    try:
        return env.from_string(path.read_text() if path else DEFAULT_TEMPLATE)
    except OSError as exc:
        raise IpamError(f"notice template {str(path)!r}: {exc.strerror}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise IpamError(f"notice template {str(path)!r} line {exc.lineno}: {exc.message}") from exc


def render(template: jinja2.Template, sub: ServiceRecord, producer: str) -> str:
    """An RFC 5322-style message: the producer as an X- header, then the template's Subject and body."""
    try:
        text = template.render(name=sub.name, dns_name=sub.dns_name, status=sub.status,
                               ipv4=str(sub.ipv4_host) if sub.ipv4_host else None,
                               ipv6_address=str(sub.ipv6_host) if sub.ipv6_host else None,
                               ipv6_prefix=str(sub.ipv6_prefix) if sub.ipv6_prefix else None)
    except jinja2.TemplateError as exc:
        raise IpamError(f"notice template for subscriber {sub.name!r}: {exc}") from exc
    return f"X-Generated-By: {producer}\n{text}"
