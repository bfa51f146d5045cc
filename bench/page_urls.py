#!/usr/bin/env python3
"""Paths for bench/preferences.sh: a preference page per subscriber, or a one-click URL per message.

Usage: FACTEUR_SECRET=... python3 bench/page_urls.py preferences|unsubscribe < ids > paths

Reads ids (one per line) on stdin and writes `/p/<subscriber token>` or `/u/<unsubscribe token>`,
signed like Sources/Facteur/Tokens/TokenSigner.swift (see bench/track_urls.py) with the key of
FACTEUR_SECRET (key id k1).
"""

import hashlib
import hmac
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from track_urls import b64url, leb128  # noqa: E402

# Purposes of TokenSigner.Purpose: 1 a subscriber, 5 the unsubscribe link of a message.
PURPOSES = {"preferences": (1, "/p/"), "unsubscribe": (5, "/u/")}


def token(key: bytes, purpose: int, value: int, key_id: str = "k1") -> str:
    body = f"{key_id}.{b64url(bytes([purpose]) + leb128(value))}"
    return f"{body}.{b64url(hmac.new(key, body.encode('ascii'), hashlib.sha256).digest()[:16])}"


def main() -> int:
    secret = os.environ.get("FACTEUR_SECRET", "")
    if len(secret.encode()) < 32 or len(sys.argv) != 2 or sys.argv[1] not in PURPOSES:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    purpose, prefix = PURPOSES[sys.argv[1]]
    key = secret.encode()
    sys.stdout.write("".join(f"{prefix}{token(key, purpose, int(line))}\n" for line in sys.stdin if line.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
