"""The runtime's argument building, parsing and error translation, on outputs recorded from
real podman 4.3 (tests/container/recorded/). No podman needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalavai_like.container import ContainerRuntime, ContainerSpec, RunResult, RuntimeConfig
from kalavai_like.container.oom import KernelOomLog
from kalavai_like.container.spec import MEMBERSHIP_LABEL
from kalavai_like.errors import Conflict, InvalidInput, NotFound, SystemProblem
from tests.support.recorded_runner import RECORDED, RecordedRunner, recorded

CONFIG = RuntimeConfig(
    engine="podman",
    extra_global_args=["--runtime", "runc", "--cgroup-manager", "cgroupfs"],
    containers_conf="/etc/kalavai-like/containers.conf",
)
NO_OOM = KernelOomLog(Path("/nonexistent/kmsg"))


def runtime(runner: RecordedRunner, **kw: object) -> ContainerRuntime:
    return ContainerRuntime(CONFIG, runner, oom_log=kw.pop("oom_log", NO_OOM), **kw)  # type: ignore[arg-type]


def spec(**kw: object) -> ContainerSpec:
    base: dict[str, object] = {
        "name": "kt5-w",
        "image": "localhost/kalavai-like/busybox",
        "command": ["sh", "-c", "sleep 1000"],
        "labels": {MEMBERSHIP_LABEL: "m-rec"},
        "cpus": 1.5,
        "memory_bytes": 256 * 2**20,
        "env": {"BOINC_WEAK_KEY": "s3cret"},
    }
    base.update(kw)
    return ContainerSpec(**base)  # type: ignore[arg-type]


def test_run_args_are_hardened_and_carry_limits_and_labels() -> None:
    args = ContainerRuntime(CONFIG).run_args(spec(netns_path="/run/netns/kt5-x"), env_file="/e")
    joined = " ".join(args)
    for flag in (
        "--user 1000:1000",
        "--cap-drop=ALL",
        "--security-opt no-new-privileges",
        "--read-only",
        "--pids-limit 256",
        "--cpus 1.5",
        f"--memory {256 * 2**20} --memory-swap {256 * 2**20}",
        "--network ns:/run/netns/kt5-x",
        "--pull never",
        f"--label {MEMBERSHIP_LABEL}=m-rec",
        "--tmpfs /tmp",
        "--env-file /e",
    ):
        assert flag in joined
    assert args[-4:] == ["localhost/kalavai-like/busybox", "sh", "-c", "sleep 1000"]
    # Secrets travel in the env file, never on the command line.
    assert "s3cret" not in joined
    assert "--device" not in args


def test_no_netns_means_no_network_and_registry_images_may_be_pulled() -> None:
    args = ContainerRuntime(CONFIG).run_args(spec(image="docker.io/library/busybox:1.36"))
    assert "--network none" in " ".join(args)
    assert "--pull missing" in " ".join(args)


def test_gpus_use_the_nvidia_cdi_device_when_present(tmp_path: Path) -> None:
    (tmp_path / "nvidia.yaml").write_text("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n")
    args = ContainerRuntime(CONFIG, cdi_dirs=[tmp_path]).run_args(spec(gpus=1))
    assert "--device nvidia.com/gpu=all" in " ".join(args)


def test_gpus_without_a_cdi_device_say_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SystemProblem) as err:
        ContainerRuntime(CONFIG, cdi_dirs=[tmp_path], dev_dir=tmp_path).run_args(spec(gpus=1))
    assert "nvidia-ctk cdi generate" in err.value.message and "/dev/dri" in err.value.message


@pytest.mark.parametrize(
    ("nodes", "passed"),
    [
        (["nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"],
         ["nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"]),
        (["dri/renderD128"], ["dri"]),  # Intel, or AMD for graphics APIs
        (["dri/renderD128", "kfd"], ["dri", "kfd"]),  # AMD with ROCm
    ],
)  # fmt: skip
def test_gpus_without_cdi_pass_the_device_nodes(
    tmp_path: Path, nodes: list[str], passed: list[str]
) -> None:
    dev = tmp_path / "dev"
    for n in nodes:
        (dev / n).parent.mkdir(parents=True, exist_ok=True)
        (dev / n).touch()
    args = ContainerRuntime(CONFIG, cdi_dirs=[tmp_path / "cdi"], dev_dir=dev).run_args(spec(gpus=1))
    given = [args[i + 1] for i, a in enumerate(args) if a == "--device"]
    assert given == [str(dev / p) for p in passed]


def test_run_passes_env_through_a_private_file_and_returns_the_state() -> None:
    seen: dict[str, str] = {}
    runner = RecordedRunner().add("container", RunResult(0, recorded("inspect_running.json")))

    def run_hook(argv: list[str], **kw: object) -> RunResult:
        if "run" in argv:
            path = Path(argv[argv.index("--env-file") + 1])
            seen["env"] = path.read_text()
            seen["mode"] = oct(path.stat().st_mode & 0o777)
            return RunResult(
                0, "f90ee585d598c77faaa15116cc241f79aa99fc2b1009ecbb2508d8156f0be527\n"
            )
        return runner(argv, **kw)  # type: ignore[arg-type]

    info = ContainerRuntime(CONFIG, run_hook, oom_log=NO_OOM).run(spec())
    assert seen == {"env": "BOINC_WEAK_KEY=s3cret\n", "mode": "0o600"}
    assert info.state == "running" and info.name == "kt5-rec-run"
    assert info.labels[MEMBERSHIP_LABEL] == "m-rec"


def test_every_call_carries_the_global_flags_and_containers_conf() -> None:
    calls: list[tuple[list[str], dict[str, str] | None]] = []

    def runner(argv: list[str], *, env: dict[str, str] | None, **kw: object) -> RunResult:
        calls.append((argv, env))
        return RunResult(0, "[]")

    ContainerRuntime(CONFIG, runner).state("x")
    argv, env = calls[0]
    assert argv[:5] == ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
    assert env is not None and env["CONTAINERS_CONF"] == "/etc/kalavai-like/containers.conf"


@pytest.mark.parametrize(
    ("file", "state", "exit_code"),
    [
        ("inspect_running.json", "running", None),
        ("inspect_paused.json", "paused", None),
        ("inspect_exited.json", "exited", 3),
    ],
)
def test_state_parses_recorded_inspect(file: str, state: str, exit_code: int | None) -> None:
    rt = runtime(RecordedRunner().add("container", RunResult(0, recorded(file))))
    info = rt.state("x")
    assert (info.state, info.exit_code, info.oom_killed) == (state, exit_code, False)
    assert info.started_at and info.id and info.image.startswith("localhost/kalavai-like/busybox")


def test_missing_container_is_missing_not_an_error() -> None:
    runner = RecordedRunner().add(
        "container",
        RunResult(125, recorded("inspect_missing.json"), recorded("inspect_missing.stderr")),
    )
    assert runtime(runner).state("kt5-nonexistent").state == "missing"


def test_oom_kill_is_found_in_the_kernel_log_when_podman_misses_it() -> None:
    runner = RecordedRunner().add("container", RunResult(0, recorded("inspect_oom.json")))
    assert runtime(runner).state("x").oom_killed is False
    oom_log = KernelOomLog(RECORDED / "kmsg_oom.txt")
    info = runtime(runner, oom_log=oom_log).state("x")
    assert info.oom_killed and info.exit_code == 137
    assert "ran out of memory" in info.describe_exit()


def test_find_inspects_what_ps_lists() -> None:
    runner = (
        RecordedRunner()
        .add("ps", RunResult(0, recorded("ps_label.txt")))
        .add("container", RunResult(0, recorded("inspect_running.json")))
    )
    found = runtime(runner).find(MEMBERSHIP_LABEL, "m-rec")
    assert [f.name for f in found] == ["kt5-rec-run"]
    assert "label=kalavai-like.membership=m-rec" in runner.calls[0]
    assert runtime(RecordedRunner().add("ps", RunResult(0, ""))).find(MEMBERSHIP_LABEL, "z") == []


def test_missing_image_says_how_to_build_it() -> None:
    runner = (
        RecordedRunner()
        .add("run", RunResult(125, "", recorded("run_missing_image.stderr")))
        .add("rm", RunResult(0, ""))
    )
    with pytest.raises(SystemProblem) as err:
        runtime(runner).run(spec(image="localhost/kalavai-like/nope"))
    assert err.value.title == "Worker image not found"
    assert "packaging/images/build" in err.value.message
    # A half-created container is rolled back.
    assert any("rm" in c for c in runner.calls)


def test_name_in_use_is_a_conflict_and_the_other_container_is_left_alone() -> None:
    runner = RecordedRunner().add("run", RunResult(125, "", recorded("run_name_in_use.stderr")))
    with pytest.raises(Conflict):
        runtime(runner).run(spec())
    assert not any("rm" in c for c in runner.calls)


def test_remove_and_stop_are_idempotent() -> None:
    gone = RunResult(125, "", recorded("inspect_missing.stderr"))
    runner = RecordedRunner().add("rm", gone).add("stop", gone)
    rt = runtime(runner)
    rt.remove("kt5-nonexistent")
    rt.stop("kt5-nonexistent")
    assert ["-t", "0"] == runner.calls[0][-3:-1]


def test_pause_is_idempotent_but_an_exited_container_cannot_pause() -> None:
    runner = (
        RecordedRunner()
        .add("pause", RunResult(125, "", "Error: container already paused"))
        .add("container", RunResult(0, recorded("inspect_paused.json")))
    )
    runtime(runner).pause("x")
    runner = (
        RecordedRunner()
        .add("pause", RunResult(125, "", recorded("pause_exited.stderr")))
        .add("container", RunResult(0, recorded("inspect_exited.json")))
    )
    with pytest.raises(SystemProblem) as err:
        runtime(runner).pause("x")
    assert "exited" in err.value.title


def test_update_validates_and_sets_swap_equal_to_memory() -> None:
    runner = RecordedRunner().add("update", RunResult(0, "x\n"))
    runtime(runner).update("x", cpus=0.5, memory_bytes=128 * 2**20)
    assert runner.calls[0][-7:] == [
        "--cpus",
        "0.5",
        "--memory",
        "134217728",
        "--memory-swap",
        "134217728",
        "x",
    ]
    with pytest.raises(InvalidInput):
        runtime(runner).update("x", cpus=0)


def test_logs_of_a_missing_container_is_not_found() -> None:
    runner = RecordedRunner().add("logs", RunResult(125, recorded("inspect_missing.stderr")))
    with pytest.raises(NotFound):
        runtime(runner).logs("kt5-nonexistent")
    runner = RecordedRunner().add("logs", RunResult(0, recorded("logs_exited.txt")))
    assert runtime(runner).logs("x", tail=5).strip() == "boom"


def test_usage_of_a_stopped_container_is_not_found() -> None:
    runner = RecordedRunner().add("container", RunResult(0, "0\n"))
    with pytest.raises(NotFound):
        runtime(runner).usage("x")


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "bad name"},
        {"image": "UPPER/case"},
        {"user": "0:0"},
        {"cpus": 0},
        {"memory_bytes": 1024},
        {"pids_limit": 0},
        {"env": {"A-B": "x"}},
        {"env": {"A": "line\nbreak"}},
        {"netns_path": "relative/path"},
        {"data_volume": "../etc"},
        {"tmpfs": ["tmp"]},
    ],
)
def test_bad_specs_are_refused_before_any_call(bad: dict[str, object]) -> None:
    runner = RecordedRunner()
    with pytest.raises(InvalidInput):
        runtime(runner).run(spec(**bad))
    assert runner.calls == []
