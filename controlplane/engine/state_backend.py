"""Where Pulumi keeps the stacks' state, and keeping a ``file://`` store loadable after a worker is killed.

Pulumi's file backend (gocloud's fileblob) writes each state file to a temporary file and renames it, which a
SIGKILL cannot tear. By default it also writes a metadata sidecar (``<file>.attrs``) in place, truncating it
first; a worker killed in that instant leaves an empty sidecar, and every later run of the stack fails with
"failed to load checkpoint: EOF". Pulumi never reads that metadata, so ``file://`` stores are opened with
``metadata=skip`` (no sidecars written), and recovering a stack removes sidecars a cut-short run left unreadable
(stores written before this, or by a CLI without the flag).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from controlplane.settings import Settings

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".attrs"


def backend_url(settings: Settings) -> str:
    """The settings' backend, or a ``file://`` folder under the data dir; a file store's folder exists."""
    url = settings.pulumi_backend_url or (settings.resolved_data_dir / "pulumi-state").resolve().as_uri()
    folder = file_store_folder(url)
    if folder is None:
        return url
    folder.mkdir(parents=True, exist_ok=True)
    return _without_sidecars(url)


def file_store_folder(url: str) -> Path | None:
    """The folder of a ``file://`` backend, None for any other kind."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    return Path(unquote(parts.netloc + parts.path)).expanduser()  # file:///abs, file://~/x and file://./x


def remove_unreadable_sidecars(url: str, project: str, stack_name: str) -> list[Path]:
    """Delete the metadata sidecars of the stack (and of the store's own meta.yaml) that are not whole JSON: what
    a kill mid-write leaves. Whole ones stay; Pulumi reads neither kind's content."""
    folder = file_store_folder(url)
    if folder is None:
        return []
    state = folder / ".pulumi"
    candidates = [
        state / f"meta.yaml{SIDECAR_SUFFIX}",
        *(state / "stacks" / project).glob(f"{stack_name}.json*{SIDECAR_SUFFIX}"),
        *(state / "locks" / "organization" / project / stack_name).glob(f"*{SIDECAR_SUFFIX}"),
    ]
    removed = [sidecar for sidecar in candidates if sidecar.exists() and not _is_json(sidecar)]
    for sidecar in removed:
        sidecar.unlink(missing_ok=True)
        log.warning("removed the unreadable state sidecar %s of stack %s", sidecar.name, stack_name)
    return removed


def _without_sidecars(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("metadata", "skip")
    return urlunsplit(parts._replace(query=urlencode(query)))


def _is_json(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True
