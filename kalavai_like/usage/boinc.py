"""What a BOINC worker is doing, read from the client's data directory on the host (no RPC, no
process): `client_state.xml` (client/cs_statefile.cpp writes it atomically: projects with their
host credit and scheduler backoff, tasks and their last checkpoint), the last scheduler reply
of each project (its messages: "No tasks sent"), the time of the last scheduler request (that
file's mtime) and the account manager (`acct_mgr_url.xml`). Element names follow the client's
own writers (client/project.cpp, client/result.cpp, client/app.cpp ACTIVE_TASK::write).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

# lib/common_defs.h: RESULT_* and PROCESS_* states.
_RESULT_STATE = {0: "new", 1: "downloading", 2: "ready", 3: "error", 4: "uploading",
                 5: "uploaded", 6: "aborted", 7: "upload failed"}  # fmt: skip
_TASK_STATE = {0: "waiting", 1: "running", 9: "suspended", 10: "finishing"}
MAX_STATE_BYTES = 64 * 2**20  # a state file past this is not ours to parse


@dataclass(frozen=True)
class BoincTask:
    """One task (a result being worked on): progress as of its last checkpoint."""

    name: str
    project_url: str
    state: str
    fraction_done: float
    elapsed_seconds: float
    cpu_seconds: float
    deadline: float  # Unix time


@dataclass(frozen=True)
class BoincProject:
    """One attached project and how its scheduler answered last."""

    url: str
    name: str
    host_id: int
    host_total_credit: float
    host_expavg_credit: float
    last_rpc: float | None  # last scheduler contact that succeeded
    last_try: float | None  # last scheduler request (successful or not)
    rpc_failures: int
    master_fetch_failures: int
    next_try: float | None  # backoff: no request before this
    message: str  # the last reply's messages, or why it is unreachable
    no_more_work: bool
    detach_when_done: bool
    via_account_manager: bool

    @property
    def unreachable(self) -> bool:
        return self.rpc_failures > 0 or self.master_fetch_failures > 0


@dataclass(frozen=True)
class BoincState:
    """The client's state; empty lists before it has written any."""

    projects: list[BoincProject] = field(default_factory=list)
    tasks: list[BoincTask] = field(default_factory=list)
    account_manager: str = ""  # its URL, when attached through one
    coprocessors: list[str] = field(default_factory=list)
    written_at: float | None = None  # mtime of client_state.xml

    def to_dict(self) -> dict[str, object]:
        return {
            "projects": [{**p.__dict__, "unreachable": p.unreachable} for p in self.projects],
            "tasks": [t.__dict__ for t in self.tasks],
            "account_manager": self.account_manager,
            "coprocessors": self.coprocessors,
            "written_at": self.written_at,
        }


def _f(e: ET.Element, tag: str, default: float = 0.0) -> float:
    try:
        return float((e.findtext(tag) or "").strip() or default)
    except ValueError:
        return default


def _s(e: ET.Element, tag: str) -> str:
    return (e.findtext(tag) or "").strip()


def _parse(path: Path) -> ET.Element | None:
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            return None
        return ET.fromstring(path.read_bytes())  # noqa: S314 (our own container's file; no DTDs)
    except (OSError, ET.ParseError):
        return None


def project_dir_name(url: str) -> str:
    """The client's name for a project's files (lib/url.cpp escape_project_url)."""
    rest = url.split("://", 1)[-1]
    out = re.sub(r"[^A-Za-z0-9._-]", "_", rest)
    return out[:-1] if out.endswith("_") else out


def _reply_messages(d: Path, url: str) -> str:
    root = _parse(d / f"sched_reply_{project_dir_name(url)}.xml")
    if root is None:
        return ""
    return "; ".join(m.text.strip() for m in root.iter("message") if m.text and m.text.strip())


def _mtime(path: Path) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _project(d: Path, e: ET.Element) -> BoincProject:
    url = _s(e, "master_url")
    failures, master = int(_f(e, "nrpc_failures")), int(_f(e, "master_fetch_failures"))
    last_rpc = _f(e, "last_rpc_time") or None
    last_try = _mtime(d / f"sched_request_{project_dir_name(url)}.xml")
    message = _reply_messages(d, url)
    if failures or master:
        what = "its master page" if master else "its scheduler"
        message = f"project unreachable: {failures or master} failed tries to reach {what}"
    return BoincProject(
        url=url, name=_s(e, "project_name") or url, host_id=int(_f(e, "hostid")),
        host_total_credit=_f(e, "host_total_credit"),
        host_expavg_credit=_f(e, "host_expavg_credit"),
        last_rpc=last_rpc, last_try=last_try or last_rpc, rpc_failures=failures,
        master_fetch_failures=master, next_try=_f(e, "min_rpc_time") or None, message=message,
        no_more_work=e.find("dont_request_more_work") is not None,
        detach_when_done=e.find("detach_when_done") is not None,
        via_account_manager=e.find("attached_via_acct_mgr") is not None,
    )  # fmt: skip


def _tasks(root: ET.Element) -> list[BoincTask]:
    active = {_s(a, "result_name"): a for a in root.iter("active_task")}
    tasks = []
    for r in root.findall("result"):
        name = _s(r, "name")
        if r.find("got_server_ack") is not None:
            continue  # reported and acknowledged: done with
        a = active.get(name)
        state = _RESULT_STATE.get(int(_f(r, "state")), "unknown")
        if r.find("ready_to_report") is not None:
            state = "ready to report"
        elif a is not None and state == "ready":
            state = _TASK_STATE.get(int(_f(a, "active_task_state")), "waiting")
        done = state in ("uploading", "uploaded", "ready to report")
        tasks.append(BoincTask(
            name=name, project_url=_s(r, "project_url") or _owner(root, r),
            state=state,
            fraction_done=1.0 if done else (_f(a, "checkpoint_fraction_done") if a else 0.0),
            elapsed_seconds=_f(r, "final_elapsed_time") if done or a is None
            else _f(a, "checkpoint_elapsed_time"),
            cpu_seconds=_f(r, "final_cpu_time") if done or a is None
            else _f(a, "checkpoint_cpu_time"),
            deadline=_f(r, "report_deadline"),
        ))  # fmt: skip
    return tasks


def _owner(root: ET.Element, result: ET.Element) -> str:
    """The project a result belongs to: the last <project> before it in the file."""
    owner = ""
    for e in root:
        if e.tag == "project":
            owner = _s(e, "master_url")
        elif e is result:
            return owner
    return owner


def read_state(boinc_dir: Path) -> BoincState:
    """The client's state from its data directory (an empty state when it has none yet)."""
    path = boinc_dir / "client_state.xml"
    root = _parse(path)
    if root is None:
        return BoincState()
    am = _parse(boinc_dir / "acct_mgr_url.xml")
    host = root.find("host_info")
    coprocs = [c.tag for c in (host.find("coprocs") if host is not None else None) or []]
    return BoincState(
        projects=[_project(boinc_dir, e) for e in root.findall("project")],
        tasks=_tasks(root),
        account_manager=_s(am, "url") if am is not None else "",
        coprocessors=coprocs,
        written_at=_mtime(path),
    )
