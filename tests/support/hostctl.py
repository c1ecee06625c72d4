"""A stand-in agent for one simulated host: runs `Overlay` calls read as JSON lines on stdin.

Started by the tests inside a host namespace (`nsenter --net=...`), so the overlay treats that
namespace as its host. One JSON object per line in, one per line out. Secrets travel on stdin.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

from kalavai_like.errors import KalavaiError
from kalavai_like.net import HubConfig, Overlay, Peer, SpokeConfig


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def handle(overlay: Overlay, req: dict[str, Any]) -> Any:
    op = req["op"]
    args = req.get("args", {})
    if "cfg" in args:
        kind = SpokeConfig if op.endswith("spoke") else HubConfig
        args["cfg"] = kind(**args["cfg"])
    if "peers" in args and args["peers"] is not None:
        args["peers"] = [Peer(**p) for p in args["peers"]]
    return _plain(getattr(overlay, op)(**args))


def main() -> None:
    overlay = Overlay()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply = {"ok": True, "result": handle(overlay, req)}
        except KalavaiError as exc:
            reply = {"ok": False, "error": exc.to_dict()}
        except Exception as exc:
            reply = {"ok": False, "error": {"kind": "Crash", "title": repr(exc), "message": ""}}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
