"""`pool run` prints the job's lines and exits with its script's code, even 2 (which would
otherwise read as a usage error); a missing script is a clear error."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kalavai_like.cli import context, main


class FakeNode:
    def __init__(self, code: int) -> None:
        self.code = code
        self.ran: list[tuple[str, list[str]]] = []

    def status(self) -> Any:
        return SimpleNamespace(seed=SimpleNamespace(pool_name="demo", pool_id="p-1"))

    def dask_run(self, script: str, args: list[str], on_out: Callable[[str], None]) -> int:
        self.ran.append((script, args))
        on_out("result 144")
        return self.code


def run_cli(monkeypatch: pytest.MonkeyPatch, node: FakeNode, *argv: str) -> int:
    monkeypatch.setattr(context, "node", lambda *a, **k: node)
    monkeypatch.setattr(sys, "argv", ["kalavai-like", *argv])
    with pytest.raises(SystemExit) as done:
        main.run()
    return int(done.value.code or 0)


@pytest.mark.parametrize("code", [0, 2, 3])
def test_run_passes_the_scripts_exit_code_through(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], code: int
) -> None:
    script = tmp_path / "job.py"
    script.write_text("print(12 * 12)\n")
    node = FakeNode(code)
    assert run_cli(monkeypatch, node, "pool", "run", "demo", str(script), "--n", "3") == code
    assert "result 144" in capsys.readouterr().out
    assert node.ran == [("print(12 * 12)\n", ["--n", "3"])]


def test_run_of_another_pool_or_a_missing_script_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "job.py"
    script.write_text("pass\n")
    assert run_cli(monkeypatch, FakeNode(0), "pool", "run", "other", str(script)) == 2
    assert "seed of demo" in capsys.readouterr().err
    assert run_cli(monkeypatch, FakeNode(0), "pool", "run", str(tmp_path / "nope.py")) == 2
    assert "Cannot read the script" in capsys.readouterr().err
