"""Load test of the platform server: heartbeats/s with p99 latency, and token redemptions.

    python bench/platform_load.py [--backend sqlite|postgres|both] [--seconds 15]

For each database it starts the real server (`kalavai-like platform serve`) on loopback,
enrols 1,000 devices, then load generators in separate processes (lean HTTP/1.1 keep-alive
clients on asyncio/uvloop; each device on one connection, one request in flight per
connection) send heartbeats with rising sequence numbers and cumulative counters from those
devices at a few concurrency levels. It prints the sustained rate, latency percentiles, the
server's CPU per heartbeat (uvicorn workers plus, on PostgreSQL, the database's backends), the
generators' CPU per request and the load average (the machine may be shared). Then 50
concurrent redeemers race for single-use tokens, two redeemers per token, and the run checks
that no token was claimed twice.
Each phase is bounded in time. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kalavai_like.platform.local import start_local_platform

DEVICES = 1000
PG_HOST = "/var/run/postgresql"


# ---------------------------------------------------------------- raw HTTP client (generator)


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, auth: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        assert self.reader is not None
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        data = await self.reader.readexactly(length) if length else b""
        return status, data


class _Keepalive(asyncio.Protocol):
    """A lean keep-alive HTTP/1.1 client connection for the heartbeat load: one request at a
    time, the response parsed only as far as its status and Content-Length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in self.buf[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buf) < end + 4 + length:
            return
        status = int(self.buf[9:12])
        self.buf = self.buf[end + 4 + length :]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("server closed the connection"))

    async def request(self, data: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


_BODY = b'{"seq":%d,"state":"running","counters":{"cpu_seconds":%r,"ram_gb_seconds":%r}}'


def _heartbeat_load(
    url: str, per_conn: list[list[str]], start: float, seconds: float, seq_base: int, out: Any
) -> None:
    """Generator process: one keep-alive connection per list of device credentials, each
    sending one heartbeat at a time (rising seq, cumulative counters) from wall-clock `start`
    for `seconds`; reports latencies, errors and the process's own CPU time."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        import uvloop

        uvloop.install()  # a cheaper event loop leaves more of the CPU to the server
    except ImportError:
        pass

    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        errors: dict[int, int] = {}
        loop = asyncio.get_running_loop()
        head = (
            f"POST /api/v1/device/heartbeat HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nAuthorization: Bearer "
        ).encode()
        conns = [(await loop.create_connection(_Keepalive, host, int(port)))[1] for _ in per_conn]
        await asyncio.sleep(max(0.0, start - time.time()))
        stop = time.monotonic() + seconds
        cpu0 = time.process_time()

        async def worker(conn: _Keepalive, mine: list[str]) -> None:
            auth = [c.encode() for c in mine]
            seq = seq_base
            while True:
                seq += 1
                for cred in auth:
                    if time.monotonic() >= stop:
                        return
                    body = _BODY % (seq, seq * 0.01, seq * 0.01)
                    t0 = time.perf_counter()
                    status = await conn.request(
                        b"%s%s\r\nContent-Length: %d\r\n\r\n%s" % (head, cred, len(body), body)
                    )
                    latencies.append(time.perf_counter() - t0)
                    if status != 200:
                        errors[status] = errors.get(status, 0) + 1

        await asyncio.gather(*(worker(c, m) for c, m in zip(conns, per_conn, strict=True)))
        cpu = time.process_time() - cpu0
        for conn in conns:
            assert conn.transport is not None
            conn.transport.close()
        return {"latencies": latencies, "errors": errors, "cpu": cpu}

    out.put(asyncio.run(main()))


def _heartbeats(
    url: str, creds: list[str], connections: int, procs: int, seconds: float, seq_base: int
) -> dict[str, Any]:
    """Run the heartbeat load from `procs` generator processes sharing `connections`
    connections; every device sits on exactly one connection."""
    per_conn = [creds[i::connections] for i in range(connections)]
    per_conn = [m for m in per_conn if m]
    shares = [per_conn[p::procs] for p in range(procs)]
    start = time.time() + 3.0  # all generators connected and waiting by then
    results = _in_processes(
        [(_heartbeat_load, (url, share, start, seconds, seq_base)) for share in shares if share]
    )
    errors: dict[int, int] = {}
    for r in results:
        for status, n in r["errors"].items():
            errors[status] = errors.get(status, 0) + n
    return {
        "latencies": [x for r in results for x in r["latencies"]],
        "errors": errors,
        "elapsed": seconds,
        "cpu": sum(r["cpu"] for r in results),
    }


def _redeem_race(
    url: str, user_token: str, token_texts: list[str], redeemers: int, out: Any
) -> None:
    """Generator process: `redeemers` connections; every token is tried by two of them."""
    host, port = url.removeprefix("http://").rsplit(":", 1)

    async def main() -> dict[str, Any]:
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        for i, text in enumerate(token_texts):
            queue.put_nowait((i, text))
            queue.put_nowait((i, text))
        wins: dict[int, int] = {}
        statuses: dict[int, int] = {}

        async def worker(n: int) -> None:
            conn = Conn(host, int(port))
            while not queue.empty():
                i, text = queue.get_nowait()
                key = base64.b64encode(os.urandom(32)).decode()
                body = json.dumps(
                    {"token": text, "public_key": key, "name": f"r{n}-{secrets.token_hex(4)}"}
                ).encode()
                status, _ = await conn.request("POST", "/api/v1/devices", user_token, body)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    wins[i] = wins.get(i, 0) + 1

        t0 = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(redeemers)))
        return {"wins": wins, "statuses": statuses, "elapsed": time.monotonic() - t0}

    out.put(asyncio.run(main()))


def _in_processes(jobs: list[tuple[Any, tuple[Any, ...]]]) -> list[dict[str, Any]]:
    """Run each (target, args) in its own spawned process; their results."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, queue)) for target, args in jobs]
    for proc in procs:
        proc.start()
    try:
        return [queue.get(timeout=300) for _ in procs]
    finally:
        for proc in procs:
            proc.join(30)


def _in_process(target: Any, *args: Any) -> dict[str, Any]:
    return _in_processes([(target, args)])[0]


# ---------------------------------------------------------------- set-up and phases


def _setup(url: str) -> tuple[httpx.Client, str, dict[str, Any], str]:
    http = httpx.Client(base_url=url, timeout=60)
    email, pw = f"bench-{secrets.token_hex(4)}@example.org", "bench password"
    http.post("/api/v1/accounts", json={"email": email, "password": pw}).raise_for_status()
    token = http.post("/api/v1/sessions", json={"email": email, "password": pw}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    pool = http.post(
        "/api/v1/pools",
        json={"name": f"bench-{secrets.token_hex(3)}", "template": "dask"},
        headers=auth,
    ).json()
    hub = {"public_key": base64.b64encode(os.urandom(32)).decode(), "endpoint": "127.0.0.1:51820"}
    http.post(f"/api/v1/pools/{pool['id']}/hub", json=hub, headers=auth).raise_for_status()
    return http, token, pool, email  # running: the platform enrols no device before


def _enrol(http: httpx.Client, token: str, pool: dict[str, Any], n: int) -> tuple[list[str], float]:
    auth = {"Authorization": f"Bearer {token}"}
    minted = http.post(
        f"/api/v1/pools/{pool['id']}/tokens", json={"uses": n, "expires_in": 3600}, headers=auth
    ).json()["token"]
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> str:
        body = {
            "token": minted,
            "public_key": base64.b64encode(os.urandom(32)).decode(),
            "name": f"dev-{i}",
            "cores": 4,
            "memory_bytes": 8 * 10**9,
        }
        r = http.post("/api/v1/devices", json=body, headers=auth)
        r.raise_for_status()
        return r.json()["credential"]

    t0 = time.monotonic()
    with ThreadPoolExecutor(16) as ex:
        creds = list(ex.map(one, range(n)))
    return creds, n / (time.monotonic() - t0)


def _cpu_seconds(server_pid: int, db_name: str | None) -> float:
    """CPU time used so far by the server's process tree and (PostgreSQL) its backends."""
    import psutil

    total = 0.0
    root = psutil.Process(server_pid)
    procs = [root, *root.children(recursive=True)]
    if db_name:
        for p in psutil.process_iter(["cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if cmd.startswith("postgres: ") and f" {db_name} " in cmd:
                procs.append(p)
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def run_backend(name: str, seconds: float, levels: list[int], workers: int, gen_procs: int) -> None:
    data = Path(tempfile.mkdtemp(prefix=f"kl-bench-{name}-"))
    db_url = None
    admin = None
    db_name = None
    if name == "postgres":
        import psycopg

        db_name = f"kl_bench_{os.getpid()}_{secrets.token_hex(3)}"
        admin = psycopg.connect(f"host={PG_HOST} dbname=postgres", autocommit=True)
        admin.execute(f'CREATE DATABASE "{db_name}"')
        db_url = f"postgresql+psycopg://root@/{db_name}?host={PG_HOST}"
    try:
        # 400 tokens by one owner: well past the default minting rate, which is not measured here
        tuned = {"token_mints_per_hour": 10_000}
        with start_local_platform(
            data, database_url=db_url, workers=workers, settings=tuned
        ) as server:
            print(f"\n== {name}: server {server.url}, {workers} uvicorn worker(s)", flush=True)
            http, token, pool, _ = _setup(server.url)
            creds, enrol_rate = _enrol(http, token, pool, DEVICES)
            print(f"enrolled {len(creds)} devices ({enrol_rate:.0f} redemptions/s, 16 clients)")
            seq = 0
            for level in levels:
                cpu0 = _cpu_seconds(server.pid, db_name)
                r = _heartbeats(server.url, creds, level, gen_procs, seconds, seq)
                cpu = _cpu_seconds(server.pid, db_name) - cpu0
                seq += 10_000_000
                lat = r["latencies"]
                rate = len(lat) / r["elapsed"]
                print(
                    f"heartbeats: {level:4d} connections  {rate:7.0f}/s  "
                    f"p50 {_pct(lat, 0.50):6.1f} ms  p99 {_pct(lat, 0.99):6.1f} ms  "
                    f"max {max(lat) * 1000:6.1f} ms  n={len(lat)}  errors={r['errors'] or 0}  "
                    f"server CPU {cpu / len(lat) * 1000:.3f} ms/heartbeat  "
                    f"generator CPU {r['cpu'] / len(lat) * 1000:.3f} ms/request  "
                    f"load avg {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            # token race: 50 redeemers, 2 per single-use token
            auth = {"Authorization": f"Bearer {token}"}
            texts = [
                http.post(f"/api/v1/pools/{pool['id']}/tokens", json={}, headers=auth).json()[
                    "token"
                ]
                for _ in range(400)
            ]
            r = _in_process(_redeem_race, server.url, token, texts, 50)
            wins = r["wins"]
            double = sum(1 for v in wins.values() if v > 1)
            listed = http.get(f"/api/v1/pools/{pool['id']}/tokens", headers=auth).json()
            over = sum(1 for t in listed if t["used"] > t["uses"])
            print(
                f"redemptions: 50 redeemers, {len(texts)} single-use tokens x2 attempts: "
                f"{sum(wins.values()) / r['elapsed']:.0f} successful/s, "
                f"{2 * len(texts) / r['elapsed']:.0f} attempts/s, statuses {r['statuses']}, "
                f"tokens won {len(wins)}/{len(texts)}, double claims {double}, "
                f"used>uses {over}",
                flush=True,
            )
            assert double == 0 and over == 0 and len(wins) == len(texts)
    finally:
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            admin.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--seconds", type=float, default=15.0, help="per load level (<= 30)")
    ap.add_argument("--levels", default="8,32,64,128", help="connection counts to try")
    ap.add_argument("--pg-workers", type=int, default=2)
    ap.add_argument("--gen-procs", type=int, default=2, help="load generator processes")
    args = ap.parse_args()
    seconds = min(args.seconds, 30.0)
    levels = [int(x) for x in args.levels.split(",")]
    print(
        f"platform load bench: {DEVICES} devices, {os.cpu_count()} CPUs, {seconds:.0f} s/level, "
        f"{args.gen_procs} generator processes, load avg {os.getloadavg()[0]:.2f}"
    )
    if args.backend in ("sqlite", "both"):
        run_backend("sqlite", seconds, levels, workers=1, gen_procs=args.gen_procs)
    if args.backend in ("postgres", "both"):
        run_backend("postgres", seconds, levels, args.pg_workers, args.gen_procs)


if __name__ == "__main__":
    main()
