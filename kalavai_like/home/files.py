"""Machine-written state: atomic JSON files, and the client's record of the active account.

A write goes to a temporary file in the same directory, is fsynced and renamed over the old
one, so a crash leaves either the old or the new content, never half of each. Files that hold
secrets are created 0600 from the start (never chmod'ed after the secret is in them).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import IO, Any

from kalavai_like.errors import SystemProblem


def write_json(path: Path, data: Any, *, secret: bool = False) -> None:
    """Atomically replace `path` with `data` as JSON; 0600 (dir 0700) when `secret`.

    Raises:
        SystemProblem: the directory cannot be written (permissions, full disk).
    """
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_text(path, text, secret=secret)


def write_text(path: Path, text: str, *, secret: bool = False) -> None:
    """Atomically replace `path` with `text`; 0600 (dir 0700) when `secret`.

    Raises:
        SystemProblem: the directory cannot be written (permissions, full disk).
    """
    import tempfile

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if secret else 0o777)
        # mkstemp creates the file 0600, so a secret is never readable by others, even briefly.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            if not secret:
                os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)
    except OSError as exc:
        raise SystemProblem(
            "Cannot write a file",
            f"{path}: {exc.strerror or exc}. Check the permissions and space.",
        ) from exc


def open_private_append(path: Path, *, binary: bool = False) -> IO[Any]:
    """`path` opened for appending, created 0600 (an older, wider file is narrowed to 0600):
    logs that may hold private data are never readable by others, even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "ab" if binary else "a", encoding=None if binary else "utf-8")
    except BaseException:
        os.close(fd)
        raise


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON in `path`, or `default` when it does not exist.

    Raises:
        SystemProblem: the file exists but cannot be read or is not JSON.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise SystemProblem("Cannot read a file", f"{path}: {exc.strerror or exc}.") from exc
    try:
        return json.loads(text)
    except ValueError:
        raise SystemProblem(
            "Damaged state file", f"{path} is not valid JSON. Move it away and try again."
        ) from None
