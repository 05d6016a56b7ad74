"""Where the CLI finds its API and its key.

``controlplane login`` stores the API URL and key in ``credentials.json`` under the user's config folder
(``CONTROLPLANE_CONFIG_DIR``, else the platform's usual one, e.g. ``~/.config/controlplane``), readable by the user
only. ``CONTROLPLANE_API_URL`` and ``CONTROLPLANE_API_KEY`` override what is stored. In a folder where
``controlplane dev`` runs, ``login`` offers that server's URL (``CONTROLPLANE_DEV_API_URL`` from ``.data/dev.env``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import typer

from controlplane.tenant_cli.client import CliError

DEFAULT_API_URL = "http://127.0.0.1:8000"
FILE_NAME = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    api_url: str
    api_key: str


def config_dir() -> Path:
    return Path(os.environ.get("CONTROLPLANE_CONFIG_DIR") or typer.get_app_dir("controlplane"))


def credentials_path() -> Path:
    return config_dir() / FILE_NAME


def stored() -> Credentials | None:
    try:
        document = json.loads(credentials_path().read_text())
        return Credentials(str(document["api_url"]), str(document["api_key"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"cannot read {credentials_path()}: run `controlplane login` again ({exc})") from None


def store(credentials: Credentials) -> Path:
    """Write the credentials readable by the user only (the folder too)."""
    folder = config_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / FILE_NAME
    partial = folder / f".{FILE_NAME}.tmp"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"api_url": credentials.api_url, "api_key": credentials.api_key}, handle)
    os.chmod(partial, 0o600)
    partial.replace(path)
    return path


def login_url_default() -> str:
    saved = _stored_quietly()
    return (
        os.environ.get("CONTROLPLANE_API_URL")
        or os.environ.get("CONTROLPLANE_DEV_API_URL")
        or (saved.api_url if saved else DEFAULT_API_URL)
    )


def current() -> Credentials:
    """The URL and key to use: the environment's, else what ``login`` stored."""
    saved = stored()
    key = os.environ.get("CONTROLPLANE_API_KEY") or (saved.api_key if saved else None)
    if not key:
        raise CliError("not logged in: run `controlplane login` (or set CONTROLPLANE_API_KEY)")
    url = os.environ.get("CONTROLPLANE_API_URL") or (saved.api_url if saved else DEFAULT_API_URL)
    return Credentials(url.rstrip("/"), key)


def _stored_quietly() -> Credentials | None:
    try:
        return stored()
    except CliError:
        return None
