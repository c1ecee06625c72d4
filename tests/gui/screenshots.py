"""Screenshots of the tray menu in each state and of each window, on a virtual X screen with a
real tray host (Xvfb + Debian's `trayer`).

    python -m tests.gui.screenshots docs/screenshots

The parent starts Xvfb and trayer (and stops them by PID); the child (`--child`) is the tray,
on Qt's xcb platform, which writes the PNGs and prints a JSON report on its last line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.processes import stop

SCREEN = (1100, 760)


def _start_x(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    r, w = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
         "-nolisten", "tcp"],
        pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number:
        xvfb.kill()
        raise RuntimeError("Xvfb did not start")
    return xvfb, f":{number}"


def take(out: Path) -> dict:
    """Run the child on a fresh virtual screen with a tray host; returns its report."""
    for tool in ("Xvfb", "trayer"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is missing: run scripts/setup (xvfb, trayer)")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="kl-shots-"))
    xvfb = trayer = None
    try:
        xvfb, display = _start_x(tmp)
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "HOME": str(tmp)}
        env.pop("WAYLAND_DISPLAY", None)
        trayer = subprocess.Popen(
            ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
             "--height", "30", "--iconspacing", "4", "--transparent", "false", "--tint",
             "0x2b2f36", "--SetDockType", "true", "--SetPartialStrut", "true"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "tests.gui.screenshots", "--child", str(out), str(tmp)],
            env=env, capture_output=True, text=True, timeout=180, check=False,
            cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"screenshot child failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        stop(trayer)
        stop(xvfb)
        shutil.rmtree(tmp, ignore_errors=True)


# ---- the child: the tray on the virtual screen ----------------------------------------------


def _settle(app, ms: int = 150) -> None:
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def child(out: Path, tmp: Path) -> dict:
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    from kalavai_like import tokens
    from kalavai_like.client.local import NodeClient
    from kalavai_like.client.records import JoinResult, NodeStatus, Step
    from kalavai_like.gui.bridge import Bridge
    from kalavai_like.gui.context import Context, Credit
    from kalavai_like.gui.tray import Tray
    from kalavai_like.home.instance import Home
    from tests.support.tray_states import EMAIL, HW, snapshots, worker

    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    platform = "https://pools.example.org"
    home_dir = tmp / "home"
    (home_dir / "config").mkdir(parents=True)
    (home_dir / "config" / "settings.toml").write_text(
        f'keystore = "file"\n[platform]\nurl = "{platform}"\n'
    )
    home = Home.open(str(home_dir))
    node = NodeClient(home_dir / "run" / "agent.sock")
    bridge = Bridge(node)
    ctx = Context(home, node, bridge)
    tray = Tray(ctx, lambda: HW, show_window=False)
    tray.icon.show()
    deadline = time.monotonic() + 10
    while not QSystemTrayIcon.isSystemTrayAvailable() or tray.icon.geometry().isEmpty():
        _settle(app, 50)
        if time.monotonic() > deadline:
            break
    report: dict = {
        "tray_host": QSystemTrayIcon.isSystemTrayAvailable(),
        "icon_geometry": tray.icon.geometry().getRect(),
        "files": [],
    }
    screen = app.primaryScreen()
    from PySide6.QtWidgets import QWidget

    desktop = QWidget()  # a plain desktop behind the tray bar, instead of X's black root
    desktop.setStyleSheet("background: #5b6b7c;")
    desktop.setGeometry(0, 0, *SCREEN)
    desktop.show()
    desktop.lower()
    _settle(app, 200)

    def save(pix, name: str) -> None:
        path = out / f"tray-{name}.png"
        pix.save(str(path))
        report["files"].append(path.name)

    # -- each state's icon and menu, as the screen shows them
    for name, snap in snapshots().items():
        tray.snapshot = snap
        tray._apply()
        _settle(app, 300)
        geo = tray.icon.geometry()
        tray.menu.aboutToShow.emit()
        tray.menu.popup(
            QPoint(max(0, geo.right() - tray.menu.sizeHint().width()), geo.bottom() + 2)
        )
        _settle(app, 300)
        m = tray.menu.geometry()
        left = max(0, min(m.left(), geo.left()) - 30)
        area = QRect(left, 0, SCREEN[0] - left, max(m.bottom(), geo.bottom()) + 12)
        save(screen.grabWindow(0, area.x(), area.y(), area.width(), area.height()), f"menu-{name}")
        tray.menu.hide()
        _settle(app, 100)

    def shoot(widget, name: str) -> None:
        widget.show()
        widget.raise_()
        _settle(app, 400)
        save(widget.grab(), name)
        widget.hide()

    def idle_bridge() -> None:
        deadline = time.monotonic() + 15
        while bridge.pending and time.monotonic() < deadline:
            _settle(app, 50)

    # -- the status window (what a desktop without a tray host shows)
    tray.snapshot = snapshots()["agent-down"]
    tray._apply()
    tray.show_window()
    tray.window.hide()
    shoot(tray.window, "window-status-agent-down")
    tray.snapshot = snapshots()["contributing"]
    tray._apply()
    shoot(tray.window, "window-status-contributing")

    # -- the first run: the agent runs, next log in or sign up, then pick a pool
    tray.snapshot = snapshots()["logged-out"]
    tray._apply()
    tray.show_welcome()
    tray.welcome.hide()
    shoot(tray.welcome, "window-welcome")

    # -- log-in dialog with an inline error, and the sign-up
    from kalavai_like.gui.login import LoginDialog

    signup = LoginDialog(ctx, signup=True)
    signup.email.setText(EMAIL)
    shoot(signup, "window-signup")

    login = LoginDialog(ctx)
    login.email.setText(EMAIL)
    login.password.setText("not-my-password")
    login.show_error("Wrong email or password. Check both and try again.")
    shoot(login, "window-login")

    # -- join dialog: community pools, a checked token, live steps
    from kalavai_like.gui.join import JoinDialog

    join = JoinDialog(ctx, HW)
    idle_bridge()
    join.on_pools([
        {"id": "1", "name": "protein-folding", "owner": {"display": "Uni Lab"},
         "template": "boinc", "members": 214},
        {"id": "2", "name": "climate-ensembles", "owner": {"display": "Meteo Ops"},
         "template": "dask", "members": 37},
        {"id": "3", "name": "demo", "owner": {"display": "Alice"},
         "template": "dask", "members": 2},
    ])  # fmt: skip
    text, _ = tokens.mint(platform=platform, pool_id="3", pool_name="demo",
                          expires_at=int(time.time()) + 3600)  # fmt: skip
    join.token.setPlainText(text)
    t0 = time.time()
    for i, s in enumerate([
        "Token format is correct (pool demo at https://pools.example.org)",
        "Registering this machine with the platform", "Using 10.42.0.5 address for worker",
        "Joining private network (hub 203.0.113.7:51820)",
        "Connected to the hub directly over UDP (first WireGuard handshake done)",
        "Starting worker container kl-wk (localhost/kalavai-like/dask:latest)",
    ]):  # fmt: skip
        join.on_step(Step(t0 + i * 0.4, s))
    shoot(join, "window-join")
    bad = JoinDialog(ctx, HW)
    idle_bridge()
    bad.on_pools([])
    bad.token.setPlainText(text[:40] + "x" + text[41:])
    shoot(bad, "window-join-damaged-token")
    join.on_step(Step(t0 + 3, "First heartbeat acknowledged: contributing to the pool"))
    join.on_joined(JoinResult("demo", "10.42.0.5", "d1", "kl-wk", []))
    shoot(join, "window-join-done")

    # -- contributions: platform totals, the agent's history, then live snapshots
    from kalavai_like.agent.history import usage_points
    from kalavai_like.gui.contributions import ContributionsWindow
    from kalavai_like.usage.ledger import Counters, LedgerRow

    now = time.time()
    cpu = ram = 0.0
    rows = []
    for i in range(360):  # the agent's ledger over the last hour, one row every 10 s
        load = 0.9 + 0.08 * ((i * 7) % 11) / 10 - (0.6 if 150 < i < 190 else 0)
        cpu += 10 * load
        ram += 10 * (0.45 + 0.05 * ((i * 3) % 7) / 7)
        at = now - 3630 + i * 10
        if 250 <= i < 280:
            continue  # the agent was down for 5 minutes: the chart breaks its line there
        rows.append(LedgerRow(i + 1, at, at, "b", "running", Counters(cpu, ram, 0.0)))
    # the agent's answer, computed from those rows by the agent's own code
    node.usage_history = lambda since, step: usage_points(  # type: ignore[method-assign]
        rows, since, step, now
    )
    for i in range(359, 362):  # then live snapshots, as the tray receives them
        c, r = cpu + 9.4 * (i - 359), ram + 4.7 * (i - 359)
        tray.series.add(NodeStatus("running", "contributing", worker=worker(
            totals={"cpu_seconds": c, "ram_gb_seconds": r, "gpu_seconds": 0.0}),
            at=now - 3630 + i * 10 + 1))  # fmt: skip
    contrib = ContributionsWindow(ctx, tray.series)
    contrib.show()
    idle_bridge()
    import datetime as dt

    days = []
    for d in range(30, 0, -1):
        day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=d - 1)).strftime("%Y-%m-%d")
        c = 0.0 if d > 21 else 6 + (d * 5) % 9
        days.append({"day": day, "cpu_core_hours": c, "ram_gb_hours": c * 0.6,
                     "gpu_hours": 0.0, "credit": c * 1.3})  # fmt: skip
    total = {
        k: sum(r[k] for r in days)
        for k in ("cpu_core_hours", "ram_gb_hours", "gpu_hours", "credit")
    }
    waiting = {"pending": {"credit": 0.4}, "unverified": {"credit": 0.1}}
    contrib.on_credit(Credit(measured=total, granted={**total, "recent_average": 11.8}, daily=days,
                             pools=[{"pool": {"id": "3", "name": "demo"}, **total, **waiting,
                                     "witness": "trusted"}],
                             counted=total, **waiting))  # fmt: skip
    shoot(contrib, "window-contributions")
    contrib.range.setCurrentText("week")
    shoot(contrib, "window-contributions-week")
    contrib.findChild(type(contrib.daily), "daily")
    tabs = contrib.daily.parentWidget().parentWidget()
    tabs.setCurrentIndex(1)
    shoot(contrib, "window-contributions-per-day")

    # -- preferences
    from kalavai_like.gui.preferences import PreferencesDialog

    prefs = PreferencesDialog(ctx, HW)
    schedule = prefs.fields["schedule"]
    schedule.any_time.setChecked(False)  # weekday evenings and nights...
    schedule.add.click()  # ...and the weekend all day
    weekend = schedule.rows[-1]
    for n, box in enumerate(weekend.days):
        box.setChecked(n >= 5)
    weekend.all_day.setChecked(True)
    prefs.fields["load_pause"].box.setChecked(True)
    shoot(prefs, "window-preferences")
    bridge.shutdown(2000)
    return report


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--child":
        out, tmp = Path(sys.argv[2]), Path(sys.argv[3])
        report = child(out, tmp)
        sys.stdout.write("\n" + json.dumps(report) + "\n")
        sys.stdout.flush()
        os._exit(0)
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    print(json.dumps(take(out.resolve()), indent=2))


if __name__ == "__main__":
    main()
