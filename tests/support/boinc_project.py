"""A stand-in BOINC project for tests: no BOINC server is packaged and none is reachable, so the
real client talks to this one. Formats follow the client's own source (BOINC/boinc:
client/scheduler_op.cpp parse_master_file and SCHEDULER_REPLY::parse, client/cs_scheduler.cpp,
client/file_xfer.cpp, html/inc/xml.inc show_host_xml).

It serves, under `http://<host>:<port>/kn/`:
- the master page, naming the scheduler (`<link rel="boinc_scheduler">` and `<scheduler>`);
- `cgi`: the scheduler; sends one workunit of the anonymous-platform app `kn_count` (its
  app_info.xml and executable go in the client's project directory: `install_app`), acks
  reported results and grants `CREDIT_PER_RESULT` to the host, which its replies carry;
- `download/<file>`, `file_upload_handler` (get_file_size, then the upload itself);
- `show_user.php?format=xml&auth=<key>`: the user with each host's credit;
- `/am/rpc.php`: an account manager (client/acct_mgr.cpp) that lists this project with the
  account key, its URL signed with the manager's key as the client checks it (lib/crypt.cpp:
  RSA over the md5 hex of the URL, PKCS#1 type 1 padding, keys and signatures in BOINC's hex).

`online = False` makes every request fail (a project that cannot be reached); `maintenance`
makes the scheduler answer that the project is down; `missing_input` makes downloads fail.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from kalavai_like.usage.boinc import project_dir_name

APP = "kn_count"
APP_VERSION = 100
CREDIT_PER_RESULT = 42.5
INPUT = b"count to twenty\n"

# The science: counts to $KN_STEPS (20) a second a step, checkpointing in the slot directory (a
# restarted task goes on where it was), and tells the client its progress through the shared
# memory file (lib/app_ipc.h: the app_status channel is the sixth of 1024-byte channels; byte
# 0 flags a message). Then writes its output and the finish file (boinc_api.cpp).
APP_SCRIPT = r"""#!/bin/sh
N=${KN_STEPS:-20}
i=0
[ -f kn_ckpt ] && i=$(cat kn_ckpt)
status() {
  T='<current_cpu_time>%d</current_cpu_time><checkpoint_cpu_time>%d</checkpoint_cpu_time>'
  printf "\\001$T<fraction_done>%s</fraction_done>\\000" "$i" "$i" "$1" \
    | dd of=boinc_mmap_file bs=1 seek=5120 conv=notrunc 2>/dev/null
}
while [ "$i" -lt "$N" ]; do
  sleep 1
  i=$((i + 1))
  echo "$i" > kn_ckpt
  pct=$((i * 100 / N))
  if [ "$pct" -ge 100 ]; then status 1; else status "0.$(printf %02d "$pct")"; fi
done
echo "counted to $N" > out
echo 0 > boinc_finish_called
exit 0
"""

APP_INFO = f"""<app_info>
  <app><name>{APP}</name><user_friendly_name>Counter</user_friendly_name></app>
  <file_info><name>{APP}.sh</name><executable/></file_info>
  <app_version>
    <app_name>{APP}</app_name>
    <version_num>{APP_VERSION}</version_num>
    <api_version>7.20.0</api_version>
    <file_ref><file_name>{APP}.sh</file_name><main_program/></file_ref>
  </app_version>
</app_info>
"""


MASTER = """<html><head><title>Kalavai Stand-in</title>
<link rel="boinc_scheduler" href="{base}cgi">
</head><body>
<!-- <scheduler>{base}cgi</scheduler> -->
</body></html>
"""


def install_app(boinc_dir: Path, master_url: str) -> None:
    """Put the anonymous-platform app in the client's project directory (before it attaches:
    client/cs_account.cpp add_project reads app_info.xml then), so no code signing is needed."""
    d = boinc_dir / "projects" / project_dir_name(master_url)
    d.mkdir(parents=True, exist_ok=True)
    (d / "app_info.xml").write_text(APP_INFO)
    exe = d / f"{APP}.sh"
    exe.write_text(APP_SCRIPT)
    exe.chmod(0o755)


@dataclass
class Host:
    """A host record, made at its first scheduler request."""

    id: int
    cpid: str
    domain_name: str
    total_credit: float = 0.0
    rpc_time: float = 0.0
    sent: list[str] = field(default_factory=list)  # results sent to this host


@dataclass
class Project:
    """The stand-in's state (read by tests; guarded by `lock`)."""

    account_key: str
    user_name: str = "volunteer"
    online: bool = True
    maintenance: bool = False  # the scheduler answers that the project is down
    missing_input: bool = False  # input files are not found (404: the download fails)
    work: int = 1  # workunits left to send
    hosts: dict[int, Host] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""  # http://host:port/kn/, set once serving
    am_user: str = "volunteer@example.org"
    am_password: str = "correct horse"
    am_key: SigningKey | None = None
    am_requests: int = 0

    @property
    def user_credit(self) -> float:
        return sum(h.total_credit for h in self.hosts.values())

    def host_named(self, domain_name: str) -> Host:
        """The host record of the client that reported `domain_name` (a device id)."""
        with self.lock:
            return next(h for h in self.hosts.values() if h.domain_name == domain_name)


class SigningKey:
    """An account manager's RSA key (1024 bits, BOINC's maximum) in BOINC's formats."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        k = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        nums = k.private_numbers()
        self.n, self.e, self.d = nums.public_numbers.n, nums.public_numbers.e, nums.d

    @staticmethod
    def _hex(data: bytes) -> str:
        h = data.hex()
        return "".join(h[i : i + 64] + "\n" for i in range(0, len(h), 64)) + "."

    def public_text(self) -> str:
        """R_RSA_PUBLIC_KEY as print_key_hex writes it: bits, modulus and exponent (128 bytes
        each, big-endian)."""
        return f"1024\n{self._hex(self.n.to_bytes(128, 'big') + self.e.to_bytes(128, 'big'))}"

    def sign(self, text: str) -> str:
        """encrypt_private(md5 hex of `text`) with PKCS#1 type 1 padding, as hex."""
        digest = hashlib.md5(text.encode()).hexdigest().encode()
        block = b"\x00\x01" + b"\xff" * (128 - 3 - len(digest)) + b"\x00" + digest
        return self._hex(pow(int.from_bytes(block, "big"), self.d, self.n).to_bytes(128, "big"))


def am_reply(p: Project, request: str) -> str:
    """The account manager's answer to `<acct_mgr_request>`: this project, with its key."""
    digest = hashlib.md5((p.am_password + p.am_user.lower()).encode()).hexdigest()
    if _tag("name", request) != p.am_user or _tag("password_hash", request) != digest:
        return (
            "<acct_mgr_reply>\n<error_num>-206</error_num>\n<error_msg>Bad password</error_msg>"
            "\n</acct_mgr_reply>\n"
        )
    key = p.am_key or SigningKey()
    p.am_key = key
    return (
        "<acct_mgr_reply>\n<name>Stand-in manager</name>\n"
        f"<signing_key>\n{key.public_text()}\n</signing_key>\n<repeat_sec>86400</repeat_sec>\n"
        f"<account>\n<url>{p.base}</url>\n<url_signature>\n{key.sign(p.base)}\n</url_signature>\n"
        f"<authenticator>{p.account_key}</authenticator>\n</account>\n</acct_mgr_reply>\n"
    )


def _tag(name: str, text: str) -> str:
    m = re.search(f"<{name}>(.*?)</{name}>", text, re.S)
    return m.group(1).strip() if m else ""


def scheduler_reply(p: Project, request: str) -> str:
    """The scheduler's answer to one `<scheduler_request>`."""
    if _tag("authenticator", request) != p.account_key:
        return (
            '<scheduler_reply>\n<message priority="notice">Invalid or missing account key.'
            "</message>\n<request_delay>60</request_delay>\n</scheduler_reply>\n"
        )
    if p.maintenance:  # sched_main.cpp send_message: nothing is acked or sent
        return (
            '<scheduler_reply>\n<message priority="low">Project is temporarily shut down for '
            "maintenance</message>\n<request_delay>3600</request_delay>\n<project_is_down/>\n"
            "</scheduler_reply>\n"
        )
    host_id = int(_tag("hostid", request) or 0)
    new_host = host_id not in p.hosts
    if new_host:
        host_id = len(p.hosts) + 7
        info = _tag("host_info", request)
        p.hosts[host_id] = Host(host_id, _tag("host_cpid", info), _tag("domain_name", info))
    host = p.hosts[host_id]
    host.rpc_time = time.time()
    acks = []
    for result in re.findall(r"<result>(.*?)</result>", request, re.S):
        name = _tag("name", result)
        if name and name not in p.reported:
            p.reported.append(name)
            host.total_credit += CREDIT_PER_RESULT
        acks.append(f"<result_ack><name>{name}</name></result_ack>")
    wants = float(_tag("work_req_seconds", request) or 0) > 0
    wants = wants or float(_tag("cpu_req_secs", request) or 0) > 0
    body = [
        "<scheduler_reply>", "<scheduler_version>719</scheduler_version>",
        f"<master_url>{p.base}</master_url>", "<project_name>Kalavai Stand-in</project_name>",
        f"<user_name>{p.user_name}</user_name>",
        f"<user_total_credit>{p.user_credit}</user_total_credit>",
        f"<user_expavg_credit>{p.user_credit}</user_expavg_credit>",
        f"<host_total_credit>{host.total_credit}</host_total_credit>",
        f"<host_expavg_credit>{host.total_credit}</host_expavg_credit>",
        "<request_delay>5</request_delay>", *acks,
    ]  # fmt: skip
    if new_host:
        body.append(f"<hostid>{host_id}</hostid>")
    if wants and p.work > 0:
        p.work -= 1
        body += _workunit(p, f"kn_wu_{len(p.sent) + 1}")
        host.sent.append(p.sent[-1])
    elif wants:
        body.append('<message priority="low">No tasks sent</message>')
        body.append('<message priority="low">Project has no tasks available</message>')
    body.append("</scheduler_reply>")
    return "\n".join(body) + "\n"


def _workunit(p: Project, wu: str) -> list[str]:
    result = f"{wu}_0"
    p.sent.append(result)
    md5 = hashlib.md5(INPUT).hexdigest()
    deadline = int(time.time()) + 7 * 86400
    return [
        f"<file_info><name>{wu}_in</name><url>{p.base}download/{wu}_in</url>"
        f"<md5_cksum>{md5}</md5_cksum><nbytes>{len(INPUT)}</nbytes></file_info>",
        f"<file_info><name>{result}_r0</name><generated_locally/><upload_when_present/>"
        f"<max_nbytes>100000</max_nbytes><url>{p.base}file_upload_handler</url></file_info>",
        f"<workunit><name>{wu}</name><app_name>{APP}</app_name>"
        f"<version_num>{APP_VERSION}</version_num><rsc_fpops_est>1e9</rsc_fpops_est>"
        "<rsc_fpops_bound>1e14</rsc_fpops_bound><rsc_memory_bound>5e7</rsc_memory_bound>"
        "<rsc_disk_bound>1e8</rsc_disk_bound>"
        f"<file_ref><file_name>{wu}_in</file_name><open_name>in</open_name><copy_file/>"
        "</file_ref></workunit>",
        f"<result><name>{result}</name><wu_name>{wu}</wu_name>"
        f"<report_deadline>{deadline}</report_deadline><version_num>{APP_VERSION}</version_num>"
        f"<file_ref><file_name>{result}_r0</file_name><open_name>out</open_name><copy_file/>"
        "</file_ref></result>",
    ]


def upload_reply(p: Project, body: bytes) -> str:
    """file_upload_handler: a size query, or the file after its header."""
    head, _, data = body.partition(b"<data>\n")
    text = head.decode(errors="replace")
    name = _tag("get_file_size", text)
    if name:
        size = len(p.uploads.get(name, b""))
        return (
            f"<data_server_reply><status>0</status><file_size>{size}</file_size>"
            "</data_server_reply>\n"
        )
    name = _tag("name", _tag("file_info", text))
    offset = int(float(_tag("offset", text) or 0))
    p.uploads[name] = p.uploads.get(name, b"")[:offset] + data
    return "<data_server_reply><status>0</status></data_server_reply>\n"


def show_user(p: Project, auth: str) -> str:
    """show_user.php?format=xml with the account key: the user and its hosts."""
    if auth != p.account_key:
        return "<error><error_num>-136</error_num><error_msg>No such user</error_msg></error>\n"
    hosts = "".join(
        f"<host><id>{h.id}</id><rpc_time>{h.rpc_time:.0f}</rpc_time><host_cpid>{h.cpid}</host_cpid>"
        f"<total_credit>{h.total_credit}</total_credit><expavg_credit>{h.total_credit}"
        f"</expavg_credit><domain_name>{h.domain_name}</domain_name></host>"
        for h in p.hosts.values()
    )
    return (
        f"<user><id>1</id><name>{p.user_name}</name><total_credit>{p.user_credit}"
        f"</total_credit><expavg_credit>{p.user_credit}</expavg_credit>{hosts}</user>\n"
    )


class _Handler(BaseHTTPRequestHandler):
    project: Project

    def log_message(self, *args: object) -> None:  # quiet
        return

    def _send(self, text: str | bytes, ctype: str = "text/xml") -> None:
        data = text.encode() if isinstance(text, str) else text
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _down(self) -> bool:
        if self.project.online:
            return False
        self.send_error(503, "project is down for maintenance")
        return True

    def do_GET(self) -> None:
        if self._down():
            return
        url = urlparse(self.path)
        p = self.project
        with p.lock:
            p.requests.append(f"GET {url.path}")
            if url.path in ("/kn/", "/am/"):
                self._send(MASTER.format(base=p.base), "text/html")
            elif url.path.startswith("/kn/download/") and not p.missing_input:
                self._send(INPUT, "application/octet-stream")
            elif url.path == "/kn/show_user.php":
                auth = (parse_qs(url.query).get("auth") or [""])[0]
                self._send(show_user(p, auth))
            else:
                self.send_error(404)

    def do_POST(self) -> None:
        if self._down():
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        p = self.project
        with p.lock:
            p.requests.append(f"POST {self.path}")
            if self.path == "/kn/cgi":
                self._send(scheduler_reply(p, body.decode(errors="replace")))
            elif self.path == "/kn/file_upload_handler":
                self._send(upload_reply(p, body))
            elif self.path == "/am/rpc.php":
                p.am_requests += 1
                self._send(am_reply(p, body.decode(errors="replace")))
            else:
                self.send_error(404)


def serve(project: Project, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Start serving `project` in this thread's network namespace (serve_forever in another)."""
    handler = type("Handler", (_Handler,), {"project": project})
    server = ThreadingHTTPServer((host, port), handler)
    project.base = f"http://{host}:{server.server_address[1]}/kn/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


CLONE_NEWNET = 0x40000000


def serve_in(
    netns: str, project: Project, port: int = 8123, host: str = "127.0.0.1"
) -> ThreadingHTTPServer:
    """Bind the stand-in on `host` inside the network namespace `netns` (a thread enters it; the
    socket stays there): a worker's container in that namespace reaches it on 127.0.0.1."""
    out: dict[str, ThreadingHTTPServer] = {}

    def enter() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/run/netns/{netns}") as fh:
            if libc.setns(fh.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        out["s"] = serve(project, host=host, port=port)

    t = threading.Thread(target=enter)
    t.start()
    t.join()
    return out["s"]


@contextlib.contextmanager
def served_in_netns(netns: str, account_key: str) -> Iterator[Project]:
    """A new namespace `netns` (loopback up) with the stand-in in it; both gone afterwards."""
    subprocess.run(["ip", "netns", "add", netns], check=True)
    server = None
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        project = Project(account_key=account_key)
        server = serve_in(netns, project)
        yield project
    finally:
        if server is not None:
            server.shutdown()
        subprocess.run(["ip", "netns", "del", netns], check=False)
