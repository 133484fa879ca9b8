#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_proxy_header under tests/fuzz/corpus/.

Each seed is one split-seed byte followed by what a proxy might send: PROXY
v1 (TCP4, TCP6, UNKNOWN), v2 (PROXY and LOCAL, with TLVs), and garbage.
The output is committed; re-run after changing the input format.
"""

import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(ver_cmd: int, family: int, body: bytes) -> bytes:
    return SIG + bytes([ver_cmd, family]) + struct.pack(">H", len(body)) + body


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack(">H", len(value)) + value


TCP4 = bytes([192, 0, 2, 1, 198, 51, 100, 7]) + struct.pack(">HH", 56324, 110)
TCP6 = (bytes.fromhex("20010db8000000000000000000000001")
        + bytes.fromhex("20010db8000000000000000000000002") + struct.pack(">HH", 1234, 995))
TLVS = tlv(0x01, b"pop3") + tlv(0x02, b"mail.example") + tlv(0x05, b"\x01\x02\x03\x04") \
    + tlv(0x20, b"\x05\x00\x00\x00\x00" + tlv(0x21, b"TLSv1.3")) + tlv(0x04, b"")

SEEDS = {
    "v1_tcp4": b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 110\r\n",
    "v1_tcp6": b"PROXY TCP6 2001:db8::1 2001:db8::2 1234 995\r\n",
    "v1_unknown": b"PROXY UNKNOWN\r\n",
    "v1_unknown_addresses": b"PROXY UNKNOWN 192.0.2.1 198.51.100.7 1 2\r\n",
    "v1_then_pop3": b"PROXY TCP4 10.1.2.3 10.0.0.1 40000 110\r\nCAPA\r\n",
    "v1_bad_port": b"PROXY TCP4 192.0.2.1 198.51.100.7 99999 110\r\n",
    "v2_proxy_tcp4": v2(0x21, 0x11, TCP4),
    "v2_proxy_tcp6": v2(0x21, 0x21, TCP6),
    "v2_proxy_tcp4_tlvs": v2(0x21, 0x11, TCP4 + TLVS),
    "v2_proxy_tcp6_tlvs_then_tls": v2(0x21, 0x21, TCP6 + TLVS) + b"\x16\x03\x01\x00\x05hello",
    "v2_local": v2(0x20, 0x00, b""),
    "v2_local_tlvs": v2(0x20, 0x11, TCP4 + TLVS),
    "v2_unix": v2(0x21, 0x31, bytes(216)),
    "v2_bad_tlv": v2(0x21, 0x11, TCP4 + b"\x01\x00\x09abc"),
    "garbage_pop3": b"CAPA\r\n",
    "garbage_tls": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    "garbage_http": b"GET / HTTP/1.0\r\n\r\n",
}


def main() -> None:
    d = os.path.join(HERE, "corpus", "fuzz_proxy_header")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for i, (name, data) in enumerate(SEEDS.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(bytes([i * 37 % 256]) + data)


if __name__ == "__main__":
    main()
