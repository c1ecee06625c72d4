"""Runs inside the dask image (python3 + distributed), with /certs holding the pool CA's
certificates and the guard: a real TLS scheduler and worker behind the guard, then every
attempt the guard must refuse. Prints one `name: ok|REFUSED|...` line per check as JSON."""

import asyncio
import json
import os
import sys

sys.path.insert(0, "/certs")
os.environ["KALAVAI_GUARD_MEMBERS"] = "/tmp/members.json"

from distributed import Client, Scheduler, Worker
from distributed.core import rpc
from distributed.security import Security

C = "/certs"
results: dict[str, str] = {}


def sec(role: str, name: str) -> Security:
    return Security(
        tls_ca_file=f"{C}/ca.pem", require_encryption=True,
        tls_scheduler_cert=f"{C}/{name}.pem", tls_scheduler_key=f"{C}/{name}.key",
        tls_worker_cert=f"{C}/{name}.pem", tls_worker_key=f"{C}/{name}.key",
        tls_client_cert=f"{C}/{name}.pem", tls_client_key=f"{C}/{name}.key",
    )  # fmt: skip


def members(m: dict[str, str]) -> None:
    with open("/tmp/members.tmp", "w") as fh:
        json.dump({"members": m}, fh)
    os.replace("/tmp/members.tmp", "/tmp/members.json")


async def attempt(name: str, coro) -> None:
    try:
        value = await asyncio.wait_for(coro, 20)
        results[name] = f"ok {value!r}"[:200]
    except Exception as exc:
        results[name] = f"REFUSED {type(exc).__name__}: {exc}"[:300]


async def client_compute(security: Security, address: str) -> object:
    async with Client(address, security=security, asynchronous=True, timeout=10) as c:
        return await c.submit(lambda x: x * x, 12)


async def main() -> None:
    members({"dev-a": "127.0.0.1"})
    s = await Scheduler(host="tls://127.0.0.1", port=0, security=sec("scheduler", "scheduler"),
                        preload=["kalavai_guard"], dashboard=False)  # fmt: skip
    addr = s.address
    w = await Worker(addr, security=sec("worker", "dev-a"), preload=["kalavai_guard"],
                     nthreads=1, name="a")  # fmt: skip
    results["member worker registered"] = f"ok {len(s.workers)}"
    await attempt("owner client computes", client_compute(sec("client", "owner"), addr))

    async def run_on_scheduler(name: str) -> object:
        async with Client(addr, security=sec("client", name), asynchronous=True, timeout=10) as c:
            return await c.run_on_scheduler(lambda: "ran on scheduler")

    async def run_on_workers(name: str) -> object:
        async with Client(addr, security=sec("client", name), asynchronous=True, timeout=10) as c:
            return await c.run(lambda: "ran on worker")

    await attempt("owner run_on_scheduler", run_on_scheduler("owner"))
    await attempt("owner client.run on workers", run_on_workers("owner"))
    await attempt("worker cert as client", client_compute(sec("client", "dev-a"), addr))
    r = rpc(addr, connection_args=sec("worker", "dev-a").get_connection_args("worker"))
    await attempt("worker cert run_function on scheduler",
                  r.run_function(function=b"x", args=b"", kwargs=b""))  # fmt: skip
    await attempt("worker cert broadcast", r.broadcast(msg={"op": "run"}, workers=None))
    await attempt("worker cert unregisters another", r.unregister(address="tls://10.9.9.9:1"))
    wr = rpc(w.address, connection_args=sec("worker", "dev-a").get_connection_args("worker"))
    await attempt("worker cert runs code on a worker",
                  wr.run(function=b"x", args=b"", kwargs=b""))  # fmt: skip
    await attempt("worker cert adds a worker plugin", getattr(wr, "plugin-add")(plugin=b"x"))
    await attempt("worker cert get_data from a worker", wr.get_data(keys=[]))
    await attempt("no certificate", client_compute(Security(), addr.replace("tls", "tcp")))
    await attempt("non-member worker registers",
                  Worker(addr, security=sec("worker", "dev-b"), nthreads=1, name="b"))  # fmt: skip
    members({})  # dev-a departs
    for _ in range(50):
        if not s.workers:
            break
        await asyncio.sleep(0.2)
    results["departed worker removed"] = "ok" if not s.workers else "STILL THERE"
    await attempt("departed worker registers again",
                  Worker(addr, security=sec("worker", "dev-a"), nthreads=1, name="a2"))  # fmt: skip
    for x in (r, wr):
        await x.close_rpc()
    print(json.dumps(results), flush=True)
    os._exit(0)


asyncio.run(main())
