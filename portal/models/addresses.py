"""IP addresses as sortable 16-byte keys, so an address or a CIDR block is an index range.

Every address is kept as its IPv6 form, big-endian (an IPv4 address as ``::ffff:a.b.c.d``,
RFC 4291's mapped form): bytes compare in address order on both databases (PostgreSQL's
``bytea`` and SQLite's ``BLOB`` compare byte by byte), and a block is the range from its first
to its last address.
"""

from __future__ import annotations

import ipaddress

KEY_BYTES = 16


def address_key(text: str | None) -> bytes | None:
    """The key of an address as requests give it; None for no address or one that is not."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if address.version == 4:
        address = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
    return address.packed


def block_range(text: str) -> tuple[bytes, bytes]:
    """The first and last key of an address or a CIDR block (``203.0.113.0/24``,
    ``2001:db8::/32``); ValueError when it is neither. Host bits set are allowed
    (``203.0.113.7/24`` means its /24), as investigators paste them."""
    network = ipaddress.ip_network(text.strip(), strict=False)
    if network.version == 4:
        prefix = 96 + network.prefixlen
        network = ipaddress.IPv6Network(
            (b"\0" * 10 + b"\xff\xff" + network.network_address.packed, prefix)
        )
    return network.network_address.packed, network.broadcast_address.packed


_V4 = r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H = "[0-9a-fA-F]{1,4}"
_V6 = (
    f"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}"
    f"|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}"
    f"|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    f"|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:))"
)
# Exactly the addresses and blocks a search takes (the API documents this pattern): an IPv4
# address with an optional /0-32, or an IPv6 address in hex groups with an optional /0-128.
ADDRESS_OR_BLOCK_PATTERN = (
    f"^(?:{_V4}(?:/(?:3[0-2]|[12]?\\d))?|{_V6}(?:/(?:12[0-8]|1[01]\\d|[1-9]?\\d))?)$"
)
