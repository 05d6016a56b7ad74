"""``.data/dev.env``: where a running ``controlplane dev`` keeps its servers, for every other command run here.

dev writes it at start (``DATABASE_URL``, ``REDIS_URL``, the stand-ins' settings, ``CONTROLPLANE_API_URL`` for the
tenant CLI...), readable by its owner only, and removes it when it stops. Any ``controlplane`` command run in the
project folder with no ``DATABASE_URL`` of its own reads it (values already in the environment win), unless the dev
server that wrote it is gone. Lines are ``NAME='value'``: ``set -a; . .data/dev.env; set +a`` works in a shell.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import MutableMapping
from pathlib import Path

FILE_NAME = "dev.env"
PID_NAME = "CONTROLPLANE_DEV_PID"
_HEADER = "# Written by `controlplane dev` (removed when it stops). Every controlplane command run here reads it.\n"


def dev_env_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def write_dev_env(data_dir: Path, values: dict[str, str]) -> Path:
    path = dev_env_path(data_dir)
    lines = [f"{name}={shlex.quote(value)}\n" for name, value in {**values, PID_NAME: str(os.getpid())}.items()]
    partial = path.with_name(f".{FILE_NAME}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(_HEADER + "".join(lines))
    os.chmod(partial, 0o600)
    partial.replace(path)
    return path


def remove_dev_env(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        dev_env_path(data_dir).unlink()


def read_dev_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, quoted = line.partition("=")
        values[name.strip()] = "".join(shlex.split(quoted))
    return values


def load_dev_env(environ: MutableMapping[str, str]) -> Path | None:
    """Fill ``environ`` from the running dev server's file, when it has no database of its own; the file's path."""
    if environ.get("DATABASE_URL") or environ.get("CONTROLPLANE_DATABASE_URL"):
        return None
    path = dev_env_path(Path(environ.get("CONTROLPLANE_DATA_DIR", ".data")))
    try:
        values = read_dev_env(path)
    except (FileNotFoundError, NotADirectoryError, PermissionError, ValueError):
        return None
    if not _alive(values.pop(PID_NAME, "")):
        return None  # left by a dev server that was killed: its addresses are gone
    for name, value in values.items():
        environ.setdefault(name, value)
    return path


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
