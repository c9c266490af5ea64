"""The few helpers every module uses: the user-facing error, logging, commands, files."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path


class ClusterError(Exception):
    """A failure with a message meant for the user."""


def log(message: str) -> None:
    # stderr, so that stdout stays for what scripts read (`env`, `status --json`).
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def run(argv, check=True, capture=True, env=None, timeout=None, input_text=None):
    """Runs a command; on failure raises ClusterError with its output."""
    result = subprocess.run(
        [str(a) for a in argv],
        check=False,
        capture_output=capture,
        text=True,
        env=env,
        timeout=timeout,
        input=input_text,
    )
    if check and result.returncode != 0:
        output = ((result.stdout or "") + (result.stderr or "")).strip()
        raise ClusterError(f"{shlex.join(str(a) for a in argv)} failed ({result.returncode}): {output[-2000:]}")
    return result


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Writes only when the content changes (a running component may watch the file),
    and atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(mode)
        tmp.replace(path)
