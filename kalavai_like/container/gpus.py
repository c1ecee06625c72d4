"""Which GPUs a worker container gets when the volunteer allows them: NVIDIA through its CDI
device when nvidia-container-toolkit set one up, else its device nodes; Intel and AMD through
/dev/dri (and AMD's compute through /dev/kfd)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kalavai_like.errors import SystemProblem

CDI_DIRS = (Path("/etc/cdi"), Path("/var/run/cdi"))
NVIDIA_CDI_DEVICE = "nvidia.com/gpu=all"


def gpu_devices(cdi_dirs: Iterable[Path], dev: Path) -> list[str]:
    """The `--device` values for the host's GPUs.

    Raises:
        SystemProblem: none is set up (says how to set one up).
    """
    for d in cdi_dirs:
        try:
            specs = [p for p in d.iterdir() if p.suffix in (".yaml", ".yml", ".json")]
        except OSError:
            continue
        if any("nvidia.com" in p.read_text(errors="replace") for p in specs):
            return [NVIDIA_CDI_DEVICE]
    found: list[str] = []
    if (dev / "nvidia0").exists():
        nodes = sorted(dev.glob("nvidia[0-9]*"))
        nodes += [dev / n for n in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools")]
        found += [str(n) for n in nodes if n.exists()]
    found += [str(dev / n) for n in ("dri", "kfd") if (dev / n).exists()]
    if found:
        return found
    raise SystemProblem(
        "No GPU device for containers",
        "GPUs are allowed but none is set up: for NVIDIA install nvidia-container-toolkit "
        "and run `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`; Intel and AMD "
        "GPUs need /dev/dri (their kernel driver); or set GPUs to 0.",
    )
