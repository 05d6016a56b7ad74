"""Server paths out of what the engine says: every message leaves the engine with its folders as labels.

The Pulumi CLI, its plugins and the program name files under the data folder (state, work dirs, ``PULUMI_HOME``,
rendered manifests), the tools under a home folder, and the Python environment. Tenants read these messages (the
event stream, an operation's error, a namespace's last error), so the engine redacts them before they are stored:
``/srv/cp/.data/rendered/1-manifest/x.yaml`` becomes ``<rendered>/1-manifest/x.yaml``. The rest of the message,
file names included, is kept: it is what the tenant's declaration produced.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from controlplane.settings import Settings

_REPO_ROOT = Path(__file__).resolve().parents[2]
# Any person's home folder, not only this process's: /home/<name> and /root, as whole path components.
_HOMES = re.compile(r"(?<![\w./-])(?:/home/[^/\s'\"]+|/root)(?=[/\s'\":,;)\]]|$)")
_END_OF_PATH = r"(?=[/\s'\":,;)\]]|$)"


class PathRedactor:
    def __init__(self, roots: Iterable[tuple[Path, str]]) -> None:
        # Longest first, so a folder inside another gets its own label.
        ordered = sorted({(str(path), label) for path, label in roots if str(path) not in ("", "/")},
                         key=lambda root: len(root[0]), reverse=True)  # fmt: skip
        self._roots = [(re.compile(re.escape(path) + _END_OF_PATH), label) for path, label in ordered]

    @classmethod
    def for_engine(cls, settings: Settings, pulumi_home: Path) -> PathRedactor:
        data = settings.resolved_data_dir
        rendered = (settings.platform_render_dir or data / "rendered").resolve()
        roots = [
            (rendered, "<rendered>"),
            (pulumi_home.resolve(), "<pulumi-home>"),
            (data, "<data>"),
            (Path(sys.prefix).resolve(), "<python>"),
            (Path(sys.base_prefix).resolve(), "<python>"),
            (_REPO_ROOT, "<platform>"),
            (Path.home().resolve(), "<home>"),
        ]
        if settings.pulumi_root is not None:
            roots.append((settings.pulumi_root.resolve(), "<pulumi-root>"))
        return cls(roots)

    def __call__(self, text: str) -> str:
        for pattern, label in self._roots:
            text = pattern.sub(label, text)
        return _HOMES.sub("<home>", text)

    def data(self, value: Any) -> Any:
        """Every string inside an event's data, redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value
