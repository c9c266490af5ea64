"""Does the cluster DNS answer: an A query for the API Service's name, sent to
the DNS Service's address."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

from . import layout


def dns_query(server: str, name: str, timeout: float = 2) -> list[str]:
    """A-records for `name` asked over UDP (a real DNS message, stdlib only)."""
    query_id = int.from_bytes(os.urandom(2), "big")
    header = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    message = header + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(message, (server, 53))
        reply = sock.recvfrom(4096)[0]
    rid, flags, qd, an = struct.unpack(">HHHH", reply[:8])
    if rid != query_id or flags & 0x000F:
        return []
    offset = 12
    for _question in range(qd):
        while reply[offset] != 0:
            if reply[offset] & 0xC0 == 0xC0:
                offset += 1
                break
            offset += reply[offset] + 1
        offset += 5
    addresses = []
    for _answer in range(an):
        if reply[offset] & 0xC0 == 0xC0:
            offset += 2
        else:
            while reply[offset] != 0:
                offset += reply[offset] + 1
            offset += 1
        rtype, _rclass, _ttl, length = struct.unpack(">HHIH", reply[offset : offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            addresses.append(str(ipaddress.IPv4Address(reply[offset : offset + 4])))
        offset += length
    return addresses


def dns_answers() -> bool:
    try:
        return layout.API_SERVICE_IP in dns_query(
            layout.DNS_SERVICE_IP, f"kubernetes.default.svc.{layout.CLUSTER_DOMAIN}"
        )
    except OSError:
        return False
