"""What a pool may ask and a device may claim, enforced on the server: a pool's credit weights
(each at most `max_weight_factor` times the platform's standard rate) and the hardware one
device may declare when it enrols (the pool owner's maxima, else the platform's defaults).

A volunteer's machine may run any client, so a declaration beyond these is refused with a
message naming the limit, never trimmed quietly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kalavai_like.errors import InvalidInput
from kalavai_like.platform.problems import Problem
from kalavai_like.units import format_size

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kalavai_like.platform.models import Pool
    from kalavai_like.platform.settings import PlatformSettings

# The most any device may declare at all, and the range of an owner's maxima: (low, high).
CEILINGS = {"cores": (1, 4096), "memory_bytes": (0, 2**50), "gpus": (0, 64)}
RESOURCES = {"cpu": "CPU", "ram": "RAM", "gpu": "GPU"}


@dataclass(frozen=True)
class DeviceMaxima:
    """The most one device of a pool may declare."""

    cores: int
    memory_bytes: int
    gpus: int


def defaults(cfg: PlatformSettings) -> DeviceMaxima:
    """The platform's maxima, for pools whose owner set none."""
    return DeviceMaxima(cfg.max_device_cores, cfg.max_device_memory_bytes, cfg.max_device_gpus)


def maxima(cfg: PlatformSettings, pool: Pool) -> DeviceMaxima:
    """The pool's maxima: the owner's where set, the platform's default elsewhere."""
    base = defaults(cfg)
    return DeviceMaxima(
        base.cores if pool.max_cores is None else pool.max_cores,
        base.memory_bytes if pool.max_memory_bytes is None else pool.max_memory_bytes,
        base.gpus if pool.max_gpus is None else pool.max_gpus,
    )


def _refused(title: str, message: str) -> Problem:
    return Problem(422, InvalidInput(title, message))


def check_weights(cfg: PlatformSettings, weights: Mapping[str, float]) -> None:
    """Refuse a weight above `max_weight_factor` x the platform's standard rate for it.

    Raises:
        Problem: 422 naming the weight and its bound.
    """
    factor = cfg.max_weight_factor
    for key, label in RESOURCES.items():
        standard = cfg.default_weights[key]
        bound = factor * standard
        if weights[key] > bound:
            raise _refused(
                "Credit weight too high",
                f"The {label} weight may be at most {bound:g} ({factor:g} x the platform's "
                f"standard rate of {standard:g}); this asks for {weights[key]:g}.",
            )


def _words(what: str, n: int) -> str:
    if what == "memory_bytes":
        return f"{format_size(n)} of memory"
    unit = {"cores": "core", "gpus": "GPU"}[what]
    return f"{n} {unit}{'' if n == 1 else 's'}"


def check_declared(cfg: PlatformSettings, pool: Pool, cores: int, memory: int, gpus: int) -> None:
    """Refuse an enrolment that declares more than the pool's maxima for one device.

    Raises:
        Problem: 422 naming the limit and what the device declared.
    """
    most = maxima(cfg, pool)
    for what, limit, declared, option in (
        ("cores", most.cores, cores, "--cpus"),
        ("memory_bytes", most.memory_bytes, memory, "--memory"),
        ("gpus", most.gpus, gpus, "--gpus"),
    ):
        if declared > limit:
            raise _refused(
                "Device over the pool's limit",
                f"This pool accepts devices of at most {_words(what, limit)}; this one "
                f"declares {_words(what, declared)}. Lend less ({option}), or ask the pool's "
                "owner to raise the limit.",
            )
