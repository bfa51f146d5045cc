#!/usr/bin/env python3
"""Tracking paths for bench/track.sh: one open and one click per message.

Usage: FACTEUR_SECRET=... python3 bench/track_urls.py LINK_ID [LINK_ID ...] < ids > paths

Reads message ids (one per line) on stdin and writes, for each, `/t/o/<token>` and then
`/t/c/<token>/<link id>` (the link ids taken in turn), so a reader of the file alternates opens
and clicks. Tokens are signed like Sources/Facteur/Tokens/TokenSigner.swift with the key of
FACTEUR_SECRET (key id k1):

    k1.<base64url(payload)>.<base64url(HMAC-SHA256(secret, "k1.<payload b64>")[:16])>

base64url without padding; payload = purpose byte 2 (a message) + the id as unsigned LEB128.
"""

import base64
import hashlib
import hmac
import os
import sys

PURPOSE_MESSAGE = 2


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def leb128(value: int) -> bytes:
    if value < 0:
        value &= (1 << 64) - 1  # the signer encodes the id's bit pattern as unsigned
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def message_token(key: bytes, message_id: int, key_id: str = "k1") -> str:
    body = f"{key_id}.{b64url(bytes([PURPOSE_MESSAGE]) + leb128(message_id))}"
    mac = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:16]
    return f"{body}.{b64url(mac)}"


def main() -> int:
    secret = os.environ.get("FACTEUR_SECRET", "")
    if len(secret.encode()) < 32:
        print("FACTEUR_SECRET must be set to at least 32 bytes", file=sys.stderr)
        return 2
    links = sys.argv[1:]
    if not links or not all(link.isdigit() for link in links):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    # Known values of the encoding, so a slip here shows as an error rather than as lost events.
    assert leb128(1) == b"\x01" and leb128(127) == b"\x7f" and leb128(128) == b"\x80\x01"
    assert leb128(300) == b"\xac\x02" and b64url(b"\xfb\xff") == "-_8"
    key = secret.encode()
    out = []
    for index, line in enumerate(sys.stdin):
        line = line.strip()
        if not line:
            continue
        token = message_token(key, int(line))
        out.append(f"/t/o/{token}\n/t/c/{token}/{links[index % len(links)]}\n")
    sys.stdout.write("".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
