"""Fixtures for container tests: the real runtime on this host, unique `kt5-` names that are
removed (with their volumes) however the test ends, and the locally built images."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from kalavai_like.container import ContainerRuntime, RuntimeConfig
from tests.support.containers import BOINC, BUSYBOX, DASK, PREFIX, engine


@pytest.fixture(scope="session")
def podman_config() -> RuntimeConfig:
    return RuntimeConfig.detect()


@pytest.fixture
def podman(podman_config: RuntimeConfig) -> ContainerRuntime:
    return ContainerRuntime(podman_config)


@pytest.fixture
def name_prefix() -> str:
    """What every name `names` hands out starts with (a module may override it)."""
    return PREFIX


@pytest.fixture
def names(podman_config: RuntimeConfig, name_prefix: str) -> Iterator[Callable[[str], str]]:
    """Hands out unique names; removes containers and volumes of those names at the end."""
    made: list[str] = []

    def make(what: str = "c") -> str:
        name = f"{name_prefix}{what}-{uuid.uuid4().hex[:8]}"
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in made:
            engine(podman_config, "rm", "-f", "-t", "0", name)
            engine(podman_config, "volume", "rm", "-f", name)


@pytest.fixture(scope="session")
def built_images(podman_config: RuntimeConfig) -> None:
    """Fails with the fix when packaging/images/build has not made the images."""
    for image in (BUSYBOX, DASK, BOINC):
        if engine(podman_config, "image", "exists", image).returncode != 0:
            pytest.fail(f"{image} is missing: run packaging/images/build (scripts/setup does)")
