"""WireGuard: the concentrator's peer list and one client config per subscriber, both families, MTU 1420.

The files keep wg-quick's [Interface] extensions (Address, MTU, PostUp) that ``wg-quick strip`` removes
before ``wg syncconf``. No private key is written: the concentrator reads its own from a file, and each
CPE keeps its key pair (v6ops stores only the public key the subscriber gave).
"""

from __future__ import annotations

from v6ops.ipam.errors import IpamError
from v6ops.ipam.identities import check_wireguard_key
from v6ops.ipam.provisioning.inventory import Inventory, ServiceRecord


def _allowed(sub: ServiceRecord) -> list[str]:
    out = []
    if sub.ipv4 is not None:
        out.append(str(sub.ipv4))
    if sub.ipv6_host is not None:
        out.append(f"{sub.ipv6_host}/128")
    if sub.ipv6_prefix is not None:
        out.append(str(sub.ipv6_prefix))
    return out


def peers(inventory: Inventory) -> list[ServiceRecord]:
    return [s for s in inventory.subscribers if s.status == "active" and s.identities.get("wireguard-key")
            and _allowed(s)]


def server_config(inventory: Inventory, header: str, listen_port: int, mtu: int) -> str:
    lines = [header, "[Interface]", f"ListenPort = {listen_port}", f"MTU = {mtu}",
             "PostUp = wg set %i private-key /etc/wireguard/%i.key", ""]
    for sub in peers(inventory):
        lines += [f"# subscriber {sub.name}", "[Peer]", f"PublicKey = {sub.identities['wireguard-key']}",
                  f"AllowedIPs = {', '.join(_allowed(sub))}", ""]
    return "\n".join(lines)


def client_config(sub: ServiceRecord, header: str, endpoint: str, server_key: str, mtu: int) -> str:
    """The CPE side: its addresses (both families), the concentrator as the one peer for all traffic."""
    if not endpoint or not server_key:
        raise IpamError("WireGuard export needs wireguard_endpoint and wireguard_server_public_key settings")
    check_wireguard_key(server_key)
    addresses = [f"{sub.ipv4_host}/32"] if sub.ipv4_host is not None else []
    if sub.ipv6_host is not None:
        addresses.append(f"{sub.ipv6_host}/128")
    lines = [header, "# PrivateKey: the CPE's own; v6ops knows only its public key", "[Interface]",
             f"Address = {', '.join(addresses)}", f"MTU = {mtu}", "",
             "[Peer]", f"PublicKey = {server_key}", f"Endpoint = {endpoint}",
             "AllowedIPs = 0.0.0.0/0, ::/0", "PersistentKeepalive = 25", ""]
    return "\n".join(lines)
