"""`kalavai-like://join?...` links: the web's "Open in app" (kalavai_like.platform.web.pools
makes them; the desktop entry registers the scheme). A link names a platform and a pool, never
a join token: links end up in browser history, in the handler's command line and in logs. The
app that opens one asks the platform for a fresh token itself, with the account it is logged
in with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from kalavai_like.errors import InvalidInput

SCHEME = "kalavai-like"
_POOL_ID = re.compile(r"^[0-9a-f]{32}$")
_BAD = InvalidInput(
    "Not a join link",
    "Use a link from the platform's Join page: kalavai-like://join?platform=…&pool=….",
)


@dataclass(frozen=True)
class JoinLink:
    platform: str
    pool_id: str
    pool_name: str


def parse(url: str) -> JoinLink:
    """The platform and pool a join link names.

    Raises:
        InvalidInput: not a kalavai-like://join link, or a platform or pool that is not one.
    """
    parts = urlsplit(url.strip())
    if parts.scheme != SCHEME or (parts.netloc or parts.path.strip("/")) != "join":
        raise InvalidInput(_BAD.title, _BAD.message)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    platform, pool = query.get("platform", ""), query.get("pool", "")
    if urlsplit(platform).scheme not in ("http", "https") or not urlsplit(platform).netloc:
        raise InvalidInput(_BAD.title, _BAD.message)
    if not _POOL_ID.match(pool):
        raise InvalidInput(_BAD.title, _BAD.message)
    return JoinLink(platform.rstrip("/"), pool, query.get("name", "")[:64] or pool)
