"""What a BOINC worker is doing, read from the client's data directory on the host (no RPC, no
process): `client_state.xml` (client/cs_statefile.cpp writes it atomically: projects with their
host credit and scheduler backoff, tasks and their last checkpoint), the last scheduler reply
of each project (its messages: "No tasks sent"), the time of the last scheduler request (that
file's mtime) and the account manager (`acct_mgr_url.xml`). Element names follow the client's
own writers (client/project.cpp, client/result.cpp, client/app.cpp ACTIVE_TASK::write).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from kalavai_like.errors import Condition
from kalavai_like.usage.boinc_rpc import SOCKET, GuiRpc, RpcError

# lib/common_defs.h: RESULT_* and PROCESS_* states.
_RESULT_STATE = {0: "new", 1: "downloading", 2: "ready", 3: "error", 4: "uploading",
                 5: "uploaded", 6: "aborted", 7: "upload failed"}  # fmt: skip
_TASK_STATE = {0: "waiting", 1: "running", 9: "suspended", 10: "finishing"}
# lib/error_numbers.h: a result in error for want of its input files, or of its upload
# (client/cs_apps.cpp report_result_error sets the exit status and leaves the state as it was).
_EXIT_STATE = {-186: "download failed", -187: "upload failed"}
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
    down: bool  # the scheduler answered that the project is down (`<project_is_down/>`)
    no_more_work: bool
    detach_when_done: bool
    via_account_manager: bool

    @property
    def unreachable(self) -> bool:
        return not self.down and (self.rpc_failures > 0 or self.master_fetch_failures > 0)


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


def _last_reply(d: Path, url: str, asked: float | None) -> tuple[str, bool]:
    """The last scheduler reply's messages, and whether it said the project is down (the
    scheduler's send_message: database or daemons stopped) in answer to the last request,
    made at `asked` (a reply older than that: the request got none)."""
    path = d / f"sched_reply_{project_dir_name(url)}.xml"
    root = _parse(path)
    if root is None:
        return "", False
    text = "; ".join(m.text.strip() for m in root.iter("message") if m.text and m.text.strip())
    answered = _mtime(path)
    current = asked is None or (answered is not None and answered >= asked)
    return text, current and root.find("project_is_down") is not None


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
    message, down = _last_reply(d, url, last_try)
    if down:
        message = f"project is down: {message}" if message else "project is down"
    elif failures or master:  # the client counts a "down" answer as a failure too
        what = "its master page" if master else "its scheduler"
        tries = failures or master
        message = (
            f"project unreachable: {tries} failed tr{'ies' if tries > 1 else 'y'} to reach {what}"
        )
    return BoincProject(
        url=url, name=_s(e, "project_name") or url, host_id=int(_f(e, "hostid")),
        host_total_credit=_f(e, "host_total_credit"),
        host_expavg_credit=_f(e, "host_expavg_credit"),
        last_rpc=last_rpc, last_try=last_try or last_rpc, rpc_failures=failures,
        master_fetch_failures=master, next_try=_f(e, "min_rpc_time") or None, message=message,
        down=down,
        no_more_work=e.find("dont_request_more_work") is not None,
        detach_when_done=e.find("detach_when_done") is not None,
        via_account_manager=e.find("attached_via_acct_mgr") is not None,
    )  # fmt: skip


def _progress(a: ET.Element | None) -> tuple[float, float, float]:
    """Fraction done, elapsed and CPU seconds of an active task: live from the GUI RPC, else as
    of its last checkpoint (client_state.xml)."""
    if a is None:
        return 0.0, 0.0, 0.0
    if a.find("fraction_done") is not None:
        return _f(a, "fraction_done"), _f(a, "elapsed_time"), _f(a, "current_cpu_time")
    cp = "checkpoint_"
    return _f(a, cp + "fraction_done"), _f(a, cp + "elapsed_time"), _f(a, cp + "cpu_time")


def _download_failures(root: ET.Element | None) -> set[str]:
    """Workunits with an input file the client gave up downloading (its status an error in
    client_state.xml, `root`: "permanent HTTP error")."""
    if root is None:
        return set()
    failed = {_s(f, "name") for f in root.iter("file") if _f(f, "status") < 0}
    return {
        _s(w, "name")
        for w in root.iter("workunit")
        if any(_s(ref, "file_name") in failed for ref in w.iter("file_ref"))
    }


def _tasks(
    results: list[ET.Element], active: dict[str, ET.Element], owner: dict[str, str],
    failed_downloads: set[str],
) -> list[BoincTask]:  # fmt: skip
    tasks = []
    for r in results:
        name = _s(r, "name")
        if r.find("got_server_ack") is not None:
            continue  # reported and acknowledged: done with
        a = r.find("active_task")
        a = a if a is not None else active.get(name)
        state = _RESULT_STATE.get(int(_f(r, "state")), "unknown")
        failed = _EXIT_STATE.get(int(_f(r, "exit_status")))  # set whatever the state was
        if state == "downloading" and _s(r, "wu_name") in failed_downloads:
            state = "download failed"
        elif failed:
            state = failed
        elif r.find("ready_to_report") is not None:
            state = "ready to report"
        elif a is not None and state == "ready":
            state = _TASK_STATE.get(int(_f(a, "active_task_state")), "waiting")
        fraction, elapsed, cpu = _progress(a)
        if state in ("uploading", "uploaded", "ready to report"):
            fraction, elapsed, cpu = 1.0, _f(r, "final_elapsed_time"), _f(r, "final_cpu_time")
        tasks.append(BoincTask(
            name=name, project_url=_s(r, "project_url") or owner.get(name, ""), state=state,
            fraction_done=fraction, elapsed_seconds=elapsed, cpu_seconds=cpu,
            deadline=_f(r, "report_deadline"),
        ))  # fmt: skip
    return tasks


def _owners(root: ET.Element) -> dict[str, str]:
    """Each result's project in client_state.xml: the last <project> before it."""
    owners, url = {}, ""
    for e in root:
        if e.tag == "project":
            url = _s(e, "master_url")
        elif e.tag == "result":
            owners[_s(e, "name")] = url
    return owners


def boinc_conditions(state: BoincState | None) -> list[Condition]:
    """An unreachable or down project, or a task whose files failed, is a problem to show,
    not a healthy-looking idle worker."""
    found = []
    for p in state.projects if state else []:
        when = _iso(p.last_try) if p.last_try else "not yet"
        if p.unreachable:
            found.append(Condition(
                "project_unreachable", "BOINC project unreachable",
                f"{p.name}: {p.message}; last try {when}. The BOINC client keeps retrying; "
                "check the project's status page if this lasts.",
            ))  # fmt: skip
        elif p.down:
            found.append(Condition(
                "project_down", "BOINC project is down",
                f"{p.name}: {p.message} (last contact {when}). The BOINC client asks again "
                "later; nothing to do here.",
            ))  # fmt: skip
    failed = [t for t in state.tasks if t.state in _EXIT_STATE.values()] if state else []
    for t in failed:
        found.append(Condition(
            "task_files_failed", f"BOINC {t.state}",
            f"Task {t.name}: BOINC gave up on its files ({t.state}). Nothing to do unless "
            "every task fails so: then check the project's news.",
        ))  # fmt: skip
    return found


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MessageLog:
    """The client's latest message per project, read incrementally over the GUI RPC (only
    messages newer than the last seen), so an unreachable project shows what failed and when."""

    def __init__(self) -> None:
        self.seqno = 0
        self.latest: dict[str, tuple[float, str]] = {}  # project name or URL -> (time, body)

    def update(self, c: GuiRpc) -> None:
        reply = c.call(f"<get_messages>\n<seqno>{self.seqno}</seqno>\n</get_messages>")
        for m in reply.iter("msg"):
            self.seqno = max(self.seqno, int(_f(m, "seqno")))
            project, body = _s(m, "project"), " ".join(_s(m, "body").split())
            if project and body:
                self.latest[project] = (_f(m, "time"), body)

    def apply(self, p: BoincProject) -> BoincProject:
        """`p` with its latest message's time as the last try and, when it is unreachable,
        that message as the reason."""
        seen = self.latest.get(p.name) or self.latest.get(p.url)
        if seen is None or not p.unreachable:
            return p
        when, body = seen
        last_try = max(p.last_try or 0.0, when) or None
        return dataclasses.replace(p, last_try=last_try, message=f"{p.message} (last: {body})")


def read_state(boinc_dir: Path, *, rpc: bool = True, log: MessageLog | None = None) -> BoincState:
    """The client's state from its data directory: live through its GUI RPC socket when it
    answers (with `log`: the latest messages too), else from client_state.xml (an empty state
    when it has written none yet)."""
    if rpc and (boinc_dir / SOCKET).exists():
        try:
            return _from_rpc(boinc_dir, log)
        except (OSError, RpcError):
            pass  # not up yet, or going down: the state file is the next best
    path = boinc_dir / "client_state.xml"
    root = _parse(path)
    if root is None:
        return BoincState()
    am = _parse(boinc_dir / "acct_mgr_url.xml")
    results = root.findall("result")
    active = {_s(a, "result_name"): a for a in root.iter("active_task")}
    return BoincState(
        projects=[_project(boinc_dir, e) for e in root.findall("project")],
        tasks=_tasks(results, active, _owners(root), _download_failures(root)),
        account_manager=_s(am, "url") if am is not None else "",
        coprocessors=_coprocs(root.find("host_info")),
        written_at=_mtime(path),
    )


def _from_rpc(boinc_dir: Path, log: MessageLog | None) -> BoincState:
    with GuiRpc(boinc_dir) as c:
        results = c.call("<get_results>\n<active_only>0</active_only>\n</get_results>")
        projects = c.call("<get_project_status/>")
        am = c.call("<acct_mgr_info/>")
        host = c.call("<get_host_info/>")
        if log is not None:
            log.update(c)
    found = [_project(boinc_dir, e) for e in projects.iter("project")]
    rs = list(results.iter("result"))
    # The RPC does not say which downloads failed: the state file does (read only then).
    downloading = any(int(_f(r, "state")) == 1 for r in rs)
    state = _parse(boinc_dir / "client_state.xml") if downloading else None
    return BoincState(
        projects=[log.apply(p) for p in found] if log is not None else found,
        tasks=_tasks(rs, {}, {}, _download_failures(state)),
        account_manager=_s(am, "acct_mgr_info/acct_mgr_url"),
        coprocessors=_coprocs(host.find("host_info")),
        written_at=_mtime(boinc_dir / "client_state.xml"),
    )


def _coprocs(host: ET.Element | None) -> list[str]:
    """The coprocessors the client detected (host_info/coprocs: coproc_cuda, coproc_ati,
    coproc_intel_gpu, or a generic <coproc><type>)."""
    found = host.find("coprocs") if host is not None else None
    if found is None:
        return []
    names = []
    for c in found:
        kind = _s(c, "type") if c.tag == "coproc" else c.tag.removeprefix("coproc_")
        kind = _VENDOR.get(kind, kind)
        count = int(_f(c, "count", 1.0))
        name = _s(c, "name")
        names.append((f"{kind} {name}" if name else kind) + (f" x{count}" if count > 1 else ""))
    return names


# lib/coproc.cpp write_xml: the element of each GPU vendor's coprocessor.
_VENDOR = {"cuda": "NVIDIA", "ati": "AMD", "intel_gpu": "Intel", "apple_gpu": "Apple"}
