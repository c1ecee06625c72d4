"""WireGuard devices: picking the backend, running wireguard-go, configuring through `wg`.

Every `wg` and `wireguard-go` command line is built here and run through the injected
`CommandRunner`. The private key reaches `wg` only on stdin (`wg syncconf IF /dev/stdin`),
never on a command line. wireguard-go keeps its control socket in /var/run/wireguard, which
is shared by every namespace, so interface names must be unique machine-wide.

wireguard-go runs in the host namespace, so its UDP socket is the host's; its TUN interface
is then moved into the membership namespace (see spoke.start_device).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from kalavai_like.errors import Conflict, SystemProblem
from kalavai_like.net.config import BackendInfo
from kalavai_like.net.runner import CommandRunner, SystemRunner

SOCKET_DIR = "/var/run/wireguard"
TUN = "/dev/net/tun"
_probed: dict[str, BackendInfo] = {}


@dataclass(frozen=True)
class Device:
    """A WireGuard interface living in `netns` (its UDP socket in the host's), run by the kernel
    or by wireguard-go."""

    ifname: str
    netns: str
    kind: str  # "kernel" | "userspace"

    @property
    def wg_netns(self) -> str | None:
        """Where `wg` must run: the kernel device is per-namespace, wireguard-go's socket global."""
        return self.netns if self.kind == "kernel" else None


@dataclass(frozen=True)
class PeerSpec:
    """One [Peer] section for `wg`."""

    public_key: str
    allowed_ips: tuple[str, ...]
    endpoint: str | None = None
    keepalive: int = 0


def probe_backend(
    runner: CommandRunner | None = None, kernel_available: Callable[[], bool] | None = None
) -> BackendInfo:
    """Find which WireGuard backend this machine has (probed once, then cached).

    Raises:
        SystemProblem: neither kernel WireGuard nor wireguard-go with /dev/net/tun is usable.
    """
    if "auto" in _probed:
        return _probed["auto"]
    if kernel_available is None:
        from kalavai_like.net.namespace import kernel_wireguard_available

        kernel_available = kernel_wireguard_available
    runner = runner or SystemRunner()
    if kernel_available():
        info = BackendInfo("kernel", _kernel_version())
    elif os.path.exists(TUN):
        info = BackendInfo("userspace", wireguard_go_version(runner))
    else:
        raise SystemProblem(
            "No WireGuard available",
            "this kernel has no WireGuard module and /dev/net/tun is missing: load the "
            "wireguard module (modprobe wireguard) or enable TUN and install wireguard-go",
        )
    _probed["auto"] = info
    return info


def select_backend(
    requested: str,
    runner: CommandRunner | None = None,
    kernel_available: Callable[[], bool] | None = None,
) -> BackendInfo:
    """Resolve `auto | kernel | userspace` to a usable backend.

    Raises:
        SystemProblem: the requested backend is not usable here.
    """
    if requested == "auto":
        return probe_backend(runner, kernel_available)
    if requested == "kernel":
        if kernel_available is None:
            from kalavai_like.net.namespace import kernel_wireguard_available

            kernel_available = kernel_wireguard_available
        if not kernel_available():
            raise SystemProblem(
                "Kernel WireGuard unavailable",
                "this kernel has no WireGuard module: set backend = userspace (wireguard-go) "
                "or auto",
            )
        return BackendInfo("kernel", _kernel_version())
    if not os.path.exists(TUN):
        raise SystemProblem("No TUN device", f"{TUN} is missing: wireguard-go needs TUN support")
    return BackendInfo("userspace", wireguard_go_version(runner or SystemRunner()))


def _kernel_version() -> str:
    try:
        with open("/sys/module/wireguard/version") as fh:
            return fh.read().strip()
    except OSError:
        return "builtin"


def wireguard_go_version(runner: CommandRunner) -> str:
    """The installed wireguard-go's version, e.g. v0.0.20220316."""
    res = runner.run(["wireguard-go", "--version"])
    for word in res.stdout.split():
        if word.startswith("v") and any(c.isdigit() for c in word):
            return word
    return "unknown"


def socket_path(ifname: str) -> str:
    return f"{SOCKET_DIR}/{ifname}.sock"


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def pid_alive(pid: int) -> bool:
    """True when the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def userspace_pids(match: Callable[[str], bool]) -> dict[str, int]:
    """Live wireguard-go processes whose interface name satisfies `match`, by interface."""
    found: dict[str, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _cmdline(int(entry))
        if len(argv) >= 2 and os.path.basename(argv[0]) == "wireguard-go" and match(argv[-1]):
            if pid_alive(int(entry)):
                found[argv[-1]] = int(entry)
    return found


def find_pid(ifname: str) -> int | None:
    """The PID of the wireguard-go that runs `ifname`, if any."""
    return userspace_pids(lambda name: name == ifname).get(ifname)


def _socket_live(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def start_userspace(runner: CommandRunner, dev: Device, timeout: float = 5.0) -> int:
    """Start wireguard-go for `dev` in the host namespace; returns its PID once it listens.

    Raises:
        Conflict: another wireguard-go already runs an interface of that name.
        SystemProblem: wireguard-go exited or never opened its control socket.
    """
    path = socket_path(dev.ifname)
    if find_pid(dev.ifname) is not None or (os.path.exists(path) and _socket_live(path)):
        raise Conflict(
            "Interface name in use",
            f"a wireguard-go already runs {dev.ifname}: run cleanup or pick another name",
        )
    if os.path.exists(path):
        os.unlink(path)  # stale socket of a crashed run
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LOG_LEVEL": "error"}
    pid = runner.spawn(["wireguard-go", "-f", dev.ifname], env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and _socket_live(path):
            return pid
        runner.reap()
        if not pid_alive(pid):
            raise SystemProblem(
                "wireguard-go did not start",
                f"wireguard-go exited while creating {dev.ifname}: check that /dev/net/tun "
                "works and that no interface of that name exists",
            )
        time.sleep(0.002)
    stop_userspace(runner, pid, dev.ifname)
    raise SystemProblem(
        "wireguard-go did not start", f"no control socket for {dev.ifname} after {timeout:.0f} s"
    )


def stop_pid(runner: CommandRunner, pid: int, timeout: float = 3.0) -> None:
    """SIGTERM a process the caller checked is its own, then SIGKILL if it lingers; reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            runner.reap()
            time.sleep(0.005)
        if not pid_alive(pid):
            break
    runner.reap()


def stop_userspace(
    runner: CommandRunner, pid: int | None, ifname: str, timeout: float = 3.0
) -> None:
    """Stop the wireguard-go with this PID (checked to run `ifname`) and drop its socket."""
    if pid is not None and _cmdline(pid)[-1:] == [ifname]:
        stop_pid(runner, pid, timeout)
    path = socket_path(ifname)
    if os.path.exists(path) and not _socket_live(path):
        os.unlink(path)


def render_conf(private_key: str, listen_port: int | None, peers: Iterable[PeerSpec]) -> str:
    """A `wg` config file. It holds the private key: pass it on stdin only, never log it."""
    lines = ["[Interface]", f"PrivateKey = {private_key}"]
    if listen_port is not None:
        lines.append(f"ListenPort = {listen_port}")
    for p in peers:
        lines += [
            "",
            "[Peer]",
            f"PublicKey = {p.public_key}",
            f"AllowedIPs = {', '.join(p.allowed_ips)}",
        ]
        if p.endpoint:
            lines.append(f"Endpoint = {p.endpoint}")
        if p.keepalive:
            lines.append(f"PersistentKeepalive = {p.keepalive}")
    return "\n".join(lines) + "\n"


def _check(res_ok: bool, what: str, stderr: str, ifname: str) -> None:
    if not res_ok:
        raise SystemProblem(f"WireGuard {what} failed", f"wg on {ifname}: {stderr.strip()[:300]}")


def sync_conf(runner: CommandRunner, dev: Device, conf: str) -> None:
    """Apply a full config, changing only what differs (existing sessions survive)."""
    res = runner.run(["wg", "syncconf", dev.ifname, "/dev/stdin"], stdin=conf, netns=dev.wg_netns)
    _check(res.ok, "configuration", res.stderr, dev.ifname)


def update_peers(
    runner: CommandRunner, dev: Device, upsert: Iterable[PeerSpec], remove: Iterable[str]
) -> None:
    """Add or change `upsert` and remove `remove` in one `wg set`; other peers are untouched."""
    argv = ["wg", "set", dev.ifname]
    for key in remove:
        argv += ["peer", key, "remove"]
    for p in upsert:
        argv += ["peer", p.public_key, "allowed-ips", ",".join(p.allowed_ips)]
        if p.endpoint:
            argv += ["endpoint", p.endpoint]
        if p.keepalive:
            argv += ["persistent-keepalive", str(p.keepalive)]
    if len(argv) == 3:
        return
    res = runner.run(argv, netns=dev.wg_netns)
    _check(res.ok, "peer update", res.stderr, dev.ifname)


def _show(runner: CommandRunner, dev: Device, what: str) -> list[list[str]]:
    res = runner.run(["wg", "show", dev.ifname, what], netns=dev.wg_netns)
    _check(res.ok, f"show {what}", res.stderr, dev.ifname)
    return [line.split() for line in res.stdout.splitlines() if line.strip()]


def latest_handshakes(runner: CommandRunner, dev: Device) -> dict[str, int]:
    """Unix time of each peer's latest handshake (0 = never)."""
    return {row[0]: int(row[1]) for row in _show(runner, dev, "latest-handshakes") if len(row) == 2}


def transfer(runner: CommandRunner, dev: Device) -> dict[str, tuple[int, int]]:
    """Bytes received and sent per peer."""
    return {r[0]: (int(r[1]), int(r[2])) for r in _show(runner, dev, "transfer") if len(r) == 3}


def allowed_ips(runner: CommandRunner, dev: Device) -> dict[str, tuple[str, ...]]:
    """Allowed IPs per peer, as configured."""
    out: dict[str, tuple[str, ...]] = {}
    for row in _show(runner, dev, "allowed-ips"):
        out[row[0]] = tuple(ip for ip in row[1:] if ip != "(none)")
    return out


def listen_port(runner: CommandRunner, dev: Device) -> int | None:
    rows = _show(runner, dev, "listen-port")
    return int(rows[0][0]) if rows and rows[0][0].isdigit() and rows[0][0] != "0" else None


def handshake_age(stamps: Mapping[str, int], key: str) -> float | None:
    """Seconds since the peer's latest handshake, None if never."""
    stamp = stamps.get(key, 0)
    return max(0.0, time.time() - stamp) if stamp else None


@dataclass(frozen=True)
class PeerInfo:
    """One peer as the device reports it."""

    allowed_ips: tuple[str, ...]
    handshake: int  # unix time of the latest handshake, 0 = never
    rx: int
    tx: int
    endpoint: str | None = None  # where its datagrams go now (WireGuard roams it)


def read_device(runner: CommandRunner, dev: Device) -> tuple[int | None, dict[str, PeerInfo]]:
    """Listen port and peers in one read: the UAPI socket for wireguard-go (no process to
    start, so polling for a handshake stays cheap), `wg show` for the kernel.

    Raises:
        SystemProblem: the device does not answer.
    """
    if dev.kind == "kernel":
        stamps, moved = latest_handshakes(runner, dev), transfer(runner, dev)
        ends = {r[0]: r[1] for r in _show(runner, dev, "endpoints") if len(r) == 2}
        peers = {
            k: PeerInfo(ips, stamps.get(k, 0), *moved.get(k, (0, 0)),
                        endpoint=None if ends.get(k, "(none)") == "(none)" else ends[k])
            for k, ips in allowed_ips(runner, dev).items()
        }  # fmt: skip
        return listen_port(runner, dev), peers
    return _uapi_get(dev.ifname)


def _uapi_get(ifname: str) -> tuple[int | None, dict[str, PeerInfo]]:
    data = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(socket_path(ifname))
            s.sendall(b"get=1\n\n")
            while not data.endswith(b"\n\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise SystemProblem("WireGuard is not answering", f"{ifname}: {exc.strerror}") from None
    port: int | None = None
    ips: dict[str, list[str]] = {}
    nums: dict[str, dict[str, int]] = {}
    ends: dict[str, str] = {}
    key: str | None = None
    for line in data.decode(errors="replace").splitlines():
        name, _, value = line.partition("=")
        if name == "listen_port":
            port = int(value) or None
        elif name == "public_key":
            key = base64.b64encode(bytes.fromhex(value)).decode()
            ips[key], nums[key] = [], {}
        elif key is not None and name == "allowed_ip":
            ips[key].append(value)
        elif key is not None and name == "endpoint":
            ends[key] = value
        elif key is not None and name in ("last_handshake_time_sec", "rx_bytes", "tx_bytes"):
            nums[key][name] = int(value)
        elif name == "errno" and value != "0":
            raise SystemProblem("WireGuard is not answering", f"{ifname}: errno {value}")
        # private_key is deliberately skipped: it is never kept or returned.
    return port, {
        k: PeerInfo(
            tuple(ips[k]),
            nums[k].get("last_handshake_time_sec", 0),
            nums[k].get("rx_bytes", 0),
            nums[k].get("tx_bytes", 0),
            ends.get(k),
        )
        for k in ips
    }
