"""Does the cluster DNS answer: one A query for the API Service's name, sent
to the DNS Service's address.

A hand-made query, because nothing the project installs can ask one given
server from the standard library: Python's resolver (getaddrinfo, and so
`getent`) only asks the servers of /etc/resolv.conf, and dig/host would be a
Debian package and a subprocess for a probe that `up` repeats twice a second.
The message format is small (RFC 1035 4.1); only what a reply to this one
question needs is read.
"""

from __future__ import annotations

import os
import socket
import struct

from . import layout

TYPE_A = 1
CLASS_IN = 1
RECURSION_DESIRED = 0x0100
RCODE_MASK = 0x000F


def query_message(query_id: int, name: str) -> bytes:
    """A standard query with one question: `name`, type A, class IN."""
    header = struct.pack(">HHHHHH", query_id, RECURSION_DESIRED, 1, 0, 0, 0)
    labels = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split("."))
    return header + labels + b"\0" + struct.pack(">HH", TYPE_A, CLASS_IN)


def skip_name(message: bytes, offset: int) -> int:
    """The offset after a (possibly compressed) domain name."""
    while message[offset] and message[offset] & 0xC0 != 0xC0:
        offset += message[offset] + 1
    return offset + (2 if message[offset] else 1)  # a 2-byte pointer ends it, or the root label


def a_records(reply: bytes, query: bytes) -> list[str]:
    """The IPv4 addresses answering `query`; none for another ID, an error code
    or a malformed reply."""
    addresses = []
    try:
        query_id, flags, questions, answers = struct.unpack(">HHHH", reply[:8])
        if query_id != struct.unpack(">H", query[:2])[0] or flags & RCODE_MASK or questions != 1:
            return []
        offset = len(query)  # past the header and the question, which the reply echoes as sent
        for _answer in range(answers):
            offset = skip_name(reply, offset)
            rtype, _rclass, _ttl, length = struct.unpack(">HHIH", reply[offset : offset + 10])
            rdata = reply[offset + 10 : offset + 10 + length]
            if len(rdata) < length:
                return []  # cut short
            if rtype == TYPE_A and length == 4:
                addresses.append(socket.inet_ntoa(rdata))
            offset += 10 + length
    except (IndexError, struct.error):
        return []
    return addresses


def dns_query(server: str, name: str, timeout: float = 2, port: int = 53) -> list[str]:
    """A records for `name`, asked of `server` over UDP."""
    query = query_message(int.from_bytes(os.urandom(2), "big"), name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, (server, port))
        reply = sock.recvfrom(4096)[0]
    return a_records(reply, query)


def dns_answers() -> bool:
    """The cluster DNS resolves the API Service's name to its ClusterIP."""
    name = f"kubernetes.default.svc.{layout.CLUSTER_DOMAIN}"
    try:
        return layout.API_SERVICE_IP in dns_query(layout.DNS_SERVICE_IP, name)
    except OSError:
        return False
