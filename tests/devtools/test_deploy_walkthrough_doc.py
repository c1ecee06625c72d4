"""DEPLOY.md's walkthrough stays runnable: the end-to-end test (tests/e2e/
test_deploy_walkthrough.py) can play every command of its marked blocks."""

from __future__ import annotations

import shlex
from typing import Any

from kalavai_like.cli.main import app
from tests.support import walkthrough as doc


def test_the_walkthrough_has_its_steps_in_order_and_only_commands_the_test_plays() -> None:
    steps = doc.steps()
    assert [s.where for s in steps] == ["platform", "seed", "each volunteer", "seed"]
    lines = [ln for s in steps for ln in s.commands]
    assert all(ln == doc.AGENT_START or shlex.split(ln)[0] == "kalavai-like" for ln in lines)
    assert lines[0].startswith("kalavai-like platform serve")
    assert f"--endpoint {doc.SEED_ADDRESS}:51820" in " ".join(steps[1].commands)
    assert any(f"pool join {doc.TOKEN}" in ln for ln in steps[2].commands)
    assert steps[3].commands == ("kalavai-like pool workers science",)


def test_every_walkthrough_command_parses_with_the_cli() -> None:
    """Each command names a command the CLI has, with options it takes: a lost option fails
    here, not first on six simulated hosts."""
    from typer.main import get_command

    for step in doc.steps():
        for line in step.commands:
            if line == doc.AGENT_START:
                continue
            command: Any = get_command(app)
            args = shlex.split(line)[1:]
            while hasattr(command, "list_commands"):  # a group: its subcommand
                found = command.get_command(command.context_class(command), args[0])
                assert found is not None, f"{line}: no command {args[0]!r}"
                command, args = found, args[1:]
            command.make_context(command.name, args)  # raises on an unknown option
