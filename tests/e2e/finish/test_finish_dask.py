"""`pool stop --finish` on a Dask volunteer, through the real binaries: mid-way through the
owner's job the volunteer finishes; it says so, its worker retires (the scheduler records the
retirement, not a lost worker), every result of the job still comes back right, and the
volunteer ends up out of the pool with nothing of it left on the machine."""

from __future__ import annotations

import pytest

from tests.e2e.finish.conftest import Job
from tests.support.simulator import Pool, needs_root_tools, traces
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip

TASKS = 30
JOB = """
import json, time
from distributed import Client, as_completed, get_worker
client = Client(timeout=60)
client.wait_for_workers(2, timeout=120)

def square(x):
    time.sleep(3)
    return x, x * x, get_worker().name

print("started", flush=True)
values, by = {}, {}
for n, future in enumerate(as_completed(client.map(square, range(TASKS), pure=False)), 1):
    x, y, worker = future.result()
    values[x] = y
    by[worker] = by.get(worker, 0) + 1
    print("done", n, flush=True)
events = [msg for _, msg in client.get_events("all") if isinstance(msg, dict)]
retired = [w.get("name") for m in events if m.get("action") == "retire-workers"
           for w in m.get("workers", {}).values()]
print(json.dumps({"values": [values.get(x) for x in range(TASKS)], "by": by,
                  "retired": retired}))
""".replace("TASKS", str(TASKS))


def test_a_finishing_volunteer_retires_its_worker_and_no_result_is_lost(pool: Pool) -> None:
    v1 = pool.host("v1")
    device = pool.sim.client(v1).status().worker.device_id
    job = Job(pool.sim, JOB)
    try:
        # Mid-way, both workers (one thread each) having just started a task: finishing, v1's
        # worker takes no new one and retires once this one is done, seconds from now.
        job.read_until("done 6")
        out = pool.sim.cli_json(v1, "pool", "stop", "--finish")
        assert out["state"] == "running" and "finishing" in out["message"]
        st = pool.sim.cli_json(v1, "pool", "status")
        assert st["state"] == "running" and st["reason"].startswith("finishing"), st
        result = job.result()
    finally:
        job.close()
    assert result["values"] == [x * x for x in range(TASKS)]  # every task, none lost
    assert 0 < result["by"].get(device, 0) < TASKS  # v1 did part of the job, v2 the rest
    assert result["retired"] == [device]  # retired through the scheduler, not vanished
    wait_for(lambda: pool.sim.cli_json(v1, "pool", "status")["state"] == "idle",
             what="the finished volunteer to leave")  # fmt: skip
    st = pool.sim.cli_json(v1, "pool", "status")
    assert st["worker"] is None and st["reason"].startswith("finished")
    assert traces(v1.node_prefix) == []  # no container, namespace or wireguard-go left
    assert pool.device("v1")["state"] == "left"
