"""Run a shipped systemd service unit the way systemd would, where systemd is not PID 1: its
[Service] Environment= and EnvironmentFile= lines, its credentials (LoadCredential= copied into
a credentials directory, SetCredential= as the fallback), its ExecStartPre= and ExecStart=
command lines with specifiers (%S %d %t %E %%) and $VAR / ${VAR} expanded as systemd expands
them, and its UMask=.

Paths the unit names (an EnvironmentFile, a credential's source) can be mapped to a test's own
files, so a test runs the shipped unit without touching /etc."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class ServiceUnit:
    """The [Service] settings of a unit file, in order (keys repeat)."""

    path: Path
    settings: list[tuple[str, str]]

    @classmethod
    def read(cls, path: Path) -> ServiceUnit:
        settings: list[tuple[str, str]] = []
        section = ""
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
            elif section == "Service":
                key, _, value = line.partition("=")
                settings.append((key.strip(), value.strip()))
        return cls(path, settings)

    def values(self, key: str) -> list[str]:
        return [v for k, v in self.settings if k == key]

    def value(self, key: str) -> str:
        found = self.values(key)
        assert len(found) == 1, f"{self.path.name}: {key}= appears {len(found)} times"
        return found[0]


@dataclass
class UnitRun:
    """How to run a unit here: where its directories are (`specifiers`, e.g. {"S": state root,
    "t": runtime root, "E": config root}), test files standing in for paths it names (`files`),
    and the base environment (systemd's own is nearly empty)."""

    unit: ServiceUnit
    credentials: Path
    specifiers: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    base_env: dict[str, str] = field(default_factory=dict)
    made_runtime: list[Path] = field(default_factory=list)

    def _file(self, path: str) -> Path:
        return self.files.get(path, Path(path))

    def expand(self, text: str) -> str:
        """Specifiers: %S, %t, %E, %d (the credentials directory) and %%."""
        table = {**self.specifiers, "d": str(self.credentials), "%": "%"}
        return re.sub(r"%(.)", lambda m: table[m.group(1)], text)

    _DIRS = {"StateDirectory": "S", "RuntimeDirectory": "t", "ConfigurationDirectory": "E"}

    def directories(self, kind: str) -> list[Path]:
        """The unit's StateDirectory= (or RuntimeDirectory=, ConfigurationDirectory=) paths."""
        names = [name for v in self.unit.values(kind) for name in v.split()]
        return [Path(self.specifiers[self._DIRS[kind]]) / name for name in names]

    def make_directories(self) -> None:
        """Create them with their *DirectoryMode= (systemd's default 0755), as root. The
        runtime directories this run made are remembered: `stop` removes only those."""
        for kind in self._DIRS:
            modes = self.unit.values(f"{kind}Mode")
            for d in self.directories(kind):
                if kind == "RuntimeDirectory" and not d.exists():
                    self.made_runtime.append(d)
                d.mkdir(parents=True, exist_ok=True)
                d.chmod(int(modes[0], 8) if modes else 0o755)

    def load_credentials(self) -> None:
        """LoadCredential=ID:PATH copied in (0400); SetCredential=ID:VALUE when PATH is absent."""
        self.credentials.mkdir(mode=0o700, parents=True, exist_ok=True)
        fallback = dict(v.split(":", 1) for v in self.unit.values("SetCredential"))
        for item in self.unit.values("LoadCredential"):
            name, _, source = item.partition(":")
            src = self._file(self.expand(source))
            target = self.credentials / name
            if src.exists():
                shutil.copyfile(src, target)
            else:
                assert name in fallback, f"credential {name}: {src} is missing and has no default"
                target.write_text(fallback[name])
            target.chmod(0o400)

    def environment(self) -> dict[str, str]:
        env = dict(self.base_env)
        for key, value in self.unit.settings:
            if key == "Environment":
                for word in shlex.split(self.expand(value)):
                    name, _, val = word.partition("=")
                    env[name] = val
            elif key == "EnvironmentFile":
                optional = value.startswith("-")
                path = self._file(self.expand(value.lstrip("-")))
                if not path.exists():
                    assert optional, f"EnvironmentFile {path} is required and missing"
                    continue
                for line in path.read_text().splitlines():
                    line = line.strip()
                    if line and not line.startswith(("#", ";")):
                        name, _, val = line.partition("=")
                        env[name.strip()] = val.strip().strip('"')
        env["CREDENTIALS_DIRECTORY"] = str(self.credentials)
        return env

    def command(self, line: str, env: Mapping[str, str]) -> list[str]:
        """A command line: `${VAR}` is one word, a word that is just `$VAR` splits on blanks."""
        argv: list[str] = []
        for word in shlex.split(self.expand(line)):
            whole = re.fullmatch(r"\$(\w+)", word)
            if whole:
                argv += env.get(whole.group(1), "").split()
            else:
                argv.append(_VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), word))
        return argv

    def start(self, replace: Mapping[str, str] | None = None, **popen) -> subprocess.Popen:
        """Run ExecStartPre= lines, then start ExecStart= (its words swapped as `replace`
        says, e.g. an install path for the test's own executable)."""
        self.make_directories()
        self.load_credentials()
        env = self.environment()
        umask = int(self.unit.values("UMask")[0], 8) if self.unit.values("UMask") else 0o022
        for pre in self.unit.values("ExecStartPre"):
            subprocess.run(self.command(pre, env), env=env, check=True, timeout=30)
        argv = [(replace or {}).get(w, w) for w in self.command(self.unit.value("ExecStart"), env)]
        return subprocess.Popen(
            argv, env=env, cwd="/", umask=umask, start_new_session=True, **popen
        )  # fmt: skip

    def stop(self, proc: subprocess.Popen, timeout: float = 30, made: Iterable[str] = ()) -> None:
        """SIGTERM to the main process (`systemctl stop` with KillMode=process), then SIGKILL;
        then the runtime directories go, as systemd removes them, unless the unit says
        RuntimeDirectoryPreserve=yes."""
        _terminate(proc, timeout)
        if self.unit.values("RuntimeDirectoryPreserve") != ["yes"]:
            self.remove_runtime(made)
        shutil.rmtree(self.credentials, ignore_errors=True)

    def remove_runtime(self, made: Iterable[str]) -> None:
        """The runtime directories' end (a stop, or a reboot). On a machine others test on too,
        only what this run made: the files named in `made` (the service's own, such as its
        socket), and a directory it created, if nothing else is left in it."""
        for d in self.directories("RuntimeDirectory"):
            for name in made:
                (d / name).unlink(missing_ok=True)
        for d in self.made_runtime:
            with contextlib.suppress(OSError):
                d.rmdir()


def _terminate(proc: subprocess.Popen, timeout: float) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)
