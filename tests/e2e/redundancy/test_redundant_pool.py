"""Results you can trust through the real binaries: the owner's script runs workunits
redundantly on volunteers' workers over the overlay; a worker made to lie is outvoted and its
volunteer's record shows it (and its invalid compute is not granted); a worker that hangs past
delay_bound has its results replaced on another volunteer."""

from __future__ import annotations

import pytest

from tests.e2e.redundancy.conftest import Pool
from tests.support.simulator import needs_root_tools
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip

LIAR = """
import time
LIAR = {liar!r}
def square(x):
    if get_worker().name == LIAR:
        return x * x + 1
    time.sleep(1)  # the liar answers first, so it is not left out once two honest results agree
    return x * x
report = run_redundant(client, square, range(12), Redundancy(min_quorum=2, target_nresults=3))
print(json.dumps(outcome(report)))
"""

HANG = """
import time
HANG = {hang!r}
def square(x):
    if get_worker().name == HANG:
        time.sleep(120)
    return x * x
policy = Redundancy(min_quorum=2, target_nresults=2, delay_bound=8)
print(json.dumps(outcome(run_redundant(client, square, range(4), policy))))
"""


def test_a_lying_worker_is_outvoted_and_its_record_shows_it(pool: Pool) -> None:
    liar = pool.devices["v3"]
    out = pool.run(LIAR.format(liar=liar))
    assert out["values"] == [x * x for x in range(12)]
    assert all(w["state"] == "done" for w in out["workunits"])
    outcomes = [(worker, o) for w in out["workunits"] for worker, o in w["results"]]
    invalid = sum(o == "invalid" for worker, o in outcomes if worker == liar)
    assert invalid > 0 and all(o != "invalid" for worker, o in outcomes if worker != liar)
    record = wait_for(  # outcomes reach the platform in batches, with the witness's reports
        lambda: (r := pool.device(liar)["witnessed"]["results"])["invalid"] == invalid and r,
        timeout=90,
        what=f"the liar's {invalid} invalid results on the platform",
    )
    assert record["valid"] == 0
    honest = pool.device(pool.devices["v1"])["witnessed"]["results"]
    assert honest["invalid"] == 0 and honest["valid"] > 0


def test_a_hanging_worker_has_its_results_replaced_on_another_volunteer(pool: Pool) -> None:
    hang = pool.devices["v2"]
    out = pool.run(HANG.format(hang=hang))
    assert out["values"] == [0, 1, 4, 9]
    late = [o for w in out["workunits"] for _worker, o in w["results"] if o == "timed out"]
    assert late and all(len(w["agreed"]) == 2 for w in out["workunits"])
