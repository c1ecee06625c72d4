"""Join tokens built by hand, as anyone can (the checksum has no secret): every field as given."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def crafted_token(platform: str = "http://127.0.0.1:8700", **fields: Any) -> str:
    """A `kl1_` token with a matching checksum whose bundle fields are the defaults overridden
    by `fields` (p, i, n, k, s, e, t); a field given as None is left out."""
    bundle = {"p": platform, "i": "ab" * 16, "n": "science", "k": "cd" * 8,
              "s": _b64(os.urandom(32)), "e": 4_000_000_000, "t": "worker"}  # fmt: skip
    bundle.update(fields)
    bundle = {k: v for k, v in bundle.items() if v is not None}
    body = "kl1_" + _b64(json.dumps(bundle).encode())
    return f"{body}.{hashlib.sha256(body.encode()).hexdigest()[:8]}"
