"""Pool templates render hardened specs with the right command, env and network policy."""

from __future__ import annotations

import pytest

from kalavai_like.container.spec import MEMBERSHIP_LABEL, POOL_LABEL, Limits
from kalavai_like.container.templates import TEMPLATES, render, render_head, template
from kalavai_like.errors import InvalidInput

LIM = Limits(cpus=1.5, memory_bytes=2 * 2**30)


def test_dask_worker_joins_the_head_with_the_volunteers_limits() -> None:
    s = render(
        "dask", {}, membership_id="m-1", limits=LIM, head_address="10.42.0.1",
        netns_path="/run/netns/kl-m-1",
    )  # fmt: skip
    s.validate()
    assert s.command[:3] == ["dask", "worker", "tcp://10.42.0.1:8786"]
    assert s.command[s.command.index("--nthreads") + 1] == "2"
    assert int(s.command[s.command.index("--memory-limit") + 1]) < LIM.memory_bytes
    assert s.command[s.command.index("--name") + 1] == "m-1"
    assert (s.cpus, s.memory_bytes, s.netns_path) == (1.5, LIM.memory_bytes, "/run/netns/kl-m-1")
    assert s.labels[MEMBERSHIP_LABEL] == "m-1" and s.user == "1000:1000" and s.read_only
    assert s.image == "localhost/kalavai-like/dask:latest"
    assert TEMPLATES["dask"].network_policy == "pool" and TEMPLATES["dask"].has_head


def test_dask_head_runs_the_scheduler_on_the_overlay_address() -> None:
    h = render_head("dask", {}, "pool-7", "/run/netns/hub", head_address="10.42.0.1")
    assert h is not None
    h.validate()
    assert h.command[:4] == ["dask", "scheduler", "--host", "10.42.0.1"]
    assert "8786" in h.command and "--no-dashboard" in h.command
    assert h.labels[POOL_LABEL] == "pool-7"
    h2 = render_head("dask", {"dashboard": True}, "pool-7", None)
    assert h2 is not None and "--dashboard-address" in h2.command


def test_dask_head_witnesses_into_a_host_directory_and_stays_unprivileged() -> None:
    h = render_head("dask", {}, "pool-7", "/run/netns/hub", head_address="10.42.0.1",
                    witness_dir="/var/lib/kl/witness/pool-7")  # fmt: skip
    assert h is not None
    h.validate()
    assert h.command[-2:] == ["--preload", "kalavai_witness"]
    assert h.data_volume == "/var/lib/kl/witness/pool-7"  # mounted at /data, where it writes
    assert h.env == {"KALAVAI_WITNESS_DIR": "/data"}
    assert h.user == "1000:1000" and h.read_only
    plain = render_head("dask", {}, "pool-7", None)
    assert plain is not None and "--preload" not in plain.command and plain.data_volume is None


def test_dask_worker_needs_a_head() -> None:
    with pytest.raises(InvalidInput):
        render("dask", {}, membership_id="m", limits=LIM, head_address=None, netns_path=None)


def test_boinc_attaches_with_a_weak_key_through_the_environment() -> None:
    s = render(
        "boinc",
        {"project_url": "https://boinc.bakerlab.org/rosetta/", "weak_key": "123_abcdef",
         "gui_rpc_password": "pw"},
        membership_id="m-2", limits=LIM, head_address=None, netns_path="/run/netns/x",
    )  # fmt: skip
    s.validate()
    assert s.env["BOINC_PROJECT_URL"] == "https://boinc.bakerlab.org/rosetta/"
    assert s.env["BOINC_WEAK_KEY"] == "123_abcdef"
    assert s.env["BOINC_GUI_RPC_PASSWORD"] == "pw"
    assert "123_abcdef" not in " ".join(s.command)
    assert "123_abcdef" not in repr(s) and "m-2" in repr(s)  # a repr may reach a log line
    assert TEMPLATES["boinc"].network_policy == "internet"
    assert render_head("boinc", {}, "p", None) is None


@pytest.mark.parametrize(
    "params",
    [
        {"project_url": "ftp://x", "weak_key": "k"},
        {"project_url": "https://x.org/<script>", "weak_key": "k"},
        {"project_url": "https://x.org/", "weak_key": "k;rm -rf"},
        {"project_url": "https://x.org/", "weak_key": "k", "gui_rpc_password": "a\nb"},
        {
            "account_manager_url": "https://bam.example/",
            "account_manager_user": "a b",
            "account_manager_password": "pw",
        },
        {"account_manager_url": "https://bam.example/", "account_manager_user": "ann"},
        {
            "account_manager_url": "javascript:x",
            "account_manager_user": "ann",
            "account_manager_password": "pw",
        },
    ],
)
def test_boinc_refuses_bad_params(params: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        render("boinc", params, membership_id="m", limits=LIM, head_address=None, netns_path=None)


def test_boinc_attaches_through_an_account_manager_with_the_password_hashed() -> None:
    s = render(
        "boinc",
        {"account_manager_url": "https://scienceunited.org", "account_manager_user": "Ann@x.org",
         "account_manager_password": "s3cret"},
        membership_id="m-2", limits=LIM, head_address=None, netns_path="/run/netns/x",
    )  # fmt: skip
    s.validate()
    assert s.env["BOINC_AM_URL"] == "https://scienceunited.org/"  # rpc.php is appended to it
    assert s.env["BOINC_AM_USER"] == "Ann@x.org"
    # BOINC's password_hash: md5(password + lower-cased name); the password goes nowhere
    assert s.env["BOINC_AM_PASSWORD_HASH"] == "84f057eda41e4c987a5cbcec944e83d6"
    assert "s3cret" not in repr(s)
    assert "account_manager_password" in TEMPLATES["boinc"].secret_params


def test_generic_takes_image_and_command_from_params() -> None:
    s = render(
        "generic", {"image": "ghcr.io/acme/worker:1.2", "command": ["run", "--fast"]},
        membership_id="m-3", limits=LIM, head_address=None, netns_path=None,
    )  # fmt: skip
    assert (s.image, s.command) == ("ghcr.io/acme/worker:1.2", ["run", "--fast"])
    with pytest.raises(InvalidInput):
        render("generic", {"image": "x"}, membership_id="m", limits=LIM, head_address=None,
               netns_path=None)  # fmt: skip


def test_registry_image_overrides_the_local_default_and_unknown_templates_fail() -> None:
    s = render(
        "dask", {"image": "ghcr.io/dask/dask:2024.1.0"}, membership_id="m", limits=LIM,
        head_address="10.0.0.1", netns_path=None,
    )  # fmt: skip
    assert s.image == "ghcr.io/dask/dask:2024.1.0"
    with pytest.raises(InvalidInput):
        template("ray")
    with pytest.raises(InvalidInput):
        render("dask", {}, membership_id="../x", limits=LIM, head_address="1", netns_path=None)


def test_dask_with_certificates_speaks_only_mutual_tls_behind_the_guard() -> None:
    w = render("dask", {}, membership_id="m-1", limits=LIM, head_address="10.42.0.1",
               netns_path="/run/netns/kl-m-1", secrets_dir="/var/lib/kl/m-1")  # fmt: skip
    w.validate()
    assert w.command[2] == "tls://10.42.0.1:8786"
    assert w.command[w.command.index("--tls-cert") + 1] == "/run/kalavai-tls/worker.pem"
    assert w.command[w.command.index("--tls-key") + 1] == "/run/kalavai-tls/worker.key"
    preloads = [w.command[i + 1] for i, a in enumerate(w.command) if a == "--preload"]
    assert preloads == ["kalavai_guard", "kalavai_finish"]  # `pool stop --finish` retires it
    assert w.labels["kalavai-like.finish-signal"] == "USR1"  # what the agent sends it then
    assert w.env["PYTHONPATH"] == "/run/kalavai-tls" and w.secrets_dir == "/var/lib/kl/m-1"
    assert w.env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
    h = render_head("dask", {"dashboard": True}, "pool-7", None, head_address="10.42.0.1",
                    witness_dir="/w", secrets_dir="/var/lib/kl/dask/pool-7/head")  # fmt: skip
    assert h is not None
    h.validate()
    assert h.command[h.command.index("--protocol") + 1] == "tls"
    assert h.command[h.command.index("--tls-cert") + 1] == "/run/kalavai-tls/scheduler.pem"
    # the dashboard is not on the overlay: only `pool connect` forwards it
    assert h.command[h.command.index("--dashboard-address") + 1] == "127.0.0.1:8787"
    assert h.env["KALAVAI_GUARD_MEMBERS"] == "/run/kalavai-tls/members.json"
    assert h.command[-2:] == ["--preload", "kalavai_witness"]  # the witness still loads
    assert "kalavai_finish" not in h.command  # a scheduler has nothing to finish
