"""Writes N tracked-link paths for the link benchmark (scripts/bench), one per line.

Usage: link-tokens.py KEY_HEX N > paths. Each path is /l/<token> of the link `whitepaper`
for a new lead oLink000000 …, signed now with key 1 (KEY_HEX, the 32 bytes scripts/bench
stored in the account's link keys), in the format of src/links/token.rs: base64url of
`<key id>.<issued>.<link id>.<openid>`, a dot, base64url of its HMAC-SHA256.
"""

import base64
import hashlib
import hmac
import sys
import time

key, n = bytes.fromhex(sys.argv[1]), int(sys.argv[2])
issued = int(time.time())


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


out = sys.stdout
for i in range(n):
    payload = b64(f"1.{issued}.whitepaper.oLink{i:06d}".encode())
    tag = b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    out.write(f"/l/{payload}.{tag}\n")
