"""The redundancy library's tests (test_library.py) run where `distributed` is: the dask
image's python, in a container without a network (the cluster is on its loopback)."""

from __future__ import annotations

import pytest

from tests.support.dask_pool import pytest_in_image

pytestmark = [pytest.mark.podman, pytest.mark.slow]


def test_the_library_on_a_real_dask_cluster() -> None:
    code, output = pytest_in_image("tests/redundancy/test_library.py")
    assert code == 0, output
