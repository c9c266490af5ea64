"""The local image registry (127.0.0.1:5000, plain HTTP): scripts/local-registry
runs it; the cluster only starts it and reports on it."""

from __future__ import annotations

from . import layout
from .util import ClusterError, run

SCRIPT = layout.REPO / "scripts" / "local-registry"


def start() -> None:
    result = run([SCRIPT, "start"], check=False)
    if result.returncode != 0:
        raise ClusterError(f"the local registry did not start: {result.stderr.strip()}")


def status_line() -> str:
    result = run([SCRIPT, "status"], check=False)
    return f"registry {layout.REGISTRY}: {(result.stdout + result.stderr).strip() or result.returncode}"
