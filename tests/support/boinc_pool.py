"""A BOINC pool's outside world for the e2e tests and the join benchmark, next to a simulator:

- the stand-in project (tests/support/boinc_project.py) in its own namespace on the
  simulator's bridge, serving on a public-looking address (TEST-NET-3, which a BOINC worker's
  `internet` egress is not kept from, unlike the simulator's private ranges), reached by each
  simulated host through its default route, as the internet would be;
- a worker image that carries the stand-in's anonymous-platform app: the boinc image, whose
  start script first puts the app in the client's project directory (the way a pool owner ships
  an app built for BOINC's anonymous platform). A pool uses it with `--param image=...`.

Everything is named after the simulator's prefix and removed at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kalavai_like.devtools import system
from kalavai_like.devtools.simulator import SimHost, Simulator
from kalavai_like.usage.boinc import project_dir_name
from tests.support.boinc_project import APP, APP_INFO, APP_SCRIPT, Project, serve_in

ADDRESS = "203.0.113.10"  # TEST-NET-3: "public" to the worker's egress rules
PORT = 8123
URL = f"http://{ADDRESS}:{PORT}/kn/"
AM_URL = URL.replace("/kn/", "/am/")
BASE_IMAGE = "localhost/kalavai-like/boinc:latest"
REPO = "localhost/kalavai-like/boinc-standin"

WRAPPER = """#!/bin/sh
# The stand-in project's anonymous-platform app goes in the client's project directory before
# the client starts (it reads app_info.xml when it attaches); then the image's own start.
set -eu
DIR=${BOINC_DATA_DIR:-/data/boinc}
mkdir -p "$DIR/projects"
cp -Rn /usr/share/kn-standin/. "$DIR/projects/"
exec /usr/local/bin/kalavai-boinc-image "$@"
"""

CONTAINERFILE = f"""FROM {BASE_IMAGE}
USER 0
COPY app/ /usr/share/kn-standin/{project_dir_name(URL)}/
RUN mv /usr/local/bin/kalavai-boinc /usr/local/bin/kalavai-boinc-image
COPY kalavai-boinc /usr/local/bin/kalavai-boinc
USER 1000:1000
"""


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False)


def standin_image() -> str:
    """The boinc image with the stand-in's app, built once per recipe and base image."""
    base = _podman("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE).stdout.strip()
    assert base, f"{BASE_IMAGE} is missing: run packaging/images/build boinc"
    recipe = "\0".join((base, CONTAINERFILE, WRAPPER, APP_INFO, APP_SCRIPT))
    tag = f"{REPO}:{hashlib.sha256(recipe.encode()).hexdigest()[:16]}"
    if _podman("image", "exists", tag).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Path(tmp)
        (ctx / "app").mkdir()
        (ctx / "app" / "app_info.xml").write_text(APP_INFO)
        (ctx / "app" / f"{APP}.sh").write_text(APP_SCRIPT)
        (ctx / "app" / f"{APP}.sh").chmod(0o755)
        (ctx / "kalavai-boinc").write_text(WRAPPER)
        (ctx / "kalavai-boinc").chmod(0o755)
        (ctx / "Containerfile").write_text(CONTAINERFILE)
        built = _podman("build", "--pull=never", "-t", tag, "-f", f"{ctx}/Containerfile", str(ctx))
        assert built.returncode == 0, built.stderr[-2000:]
    return tag


@contextlib.contextmanager
def project_beside(sim: Simulator, account_key: str, hosts: list[SimHost]) -> Iterator[Project]:
    """The stand-in at `URL`, reachable from each of `hosts`; gone afterwards."""
    netns, veth = f"{sim.prefix}-kn", f"{sim.prefix}vkn"
    bridge_side = f"198.18.{sim.octet}.250"
    system.ip("netns", "del", netns, check=False)
    system.ip("link", "del", veth, check=False)
    server = None
    try:
        system.ip("netns", "add", netns)
        system.ip("link", "add", veth, "type", "veth", "peer", "name", "uplink", "netns", netns)
        system.ip("link", "set", veth, "master", sim.bridge, "up")
        system.ip("-n", netns, "link", "set", "lo", "up")
        system.ip("-n", netns, "addr", "add", f"{ADDRESS}/32", "dev", "lo")
        system.ip("-n", netns, "addr", "add", f"{bridge_side}/24", "dev", "uplink")
        system.ip("-n", netns, "link", "set", "uplink", "up")
        for h in hosts:  # the internet: the default route (a host's other routes are its LAN)
            system.ip("-n", h.netns, "route", "replace", "default", "via", bridge_side)
        project = Project(account_key=account_key)
        server = serve_in(netns, project, port=PORT, host=ADDRESS)
        yield project
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        system.ip("link", "del", veth, check=False)
        system.ip("netns", "del", netns, check=False)


def start_pool(sim: Simulator, seed: str, name: str, **params: str) -> dict[str, object]:
    """`pool start NAME --template boinc` on `seed` with the stand-in's image and `params`."""
    host = sim.hosts[seed]
    args = [f"--param={k}={v}" for k, v in {"image": standin_image(), **params}.items()]
    return sim.cli_json(  # type: ignore[no-any-return]
        host, "pool", "start", name, "--template", "boinc", *args,
        "--endpoint", f"{host.address}:51820",
    )  # fmt: skip
