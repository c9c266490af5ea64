"""The cluster's processes: start in a session of their own, PID records that
also hold the start time (a recycled PID is never mistaken for ours), stop,
logs, the runtime's shims and pods, memory."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

from . import layout
from .components import COMPONENTS
from .util import log

LOG_ROTATE_BYTES = 64 * 1024 * 1024


def proc_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: with the PID, it names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def pid_record(name: str) -> dict | None:
    try:
        return json.loads(layout.STATE.pid_file(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def running_pid(name: str) -> int | None:
    """The PID `up` recorded for a component, if that very process still runs."""
    record = pid_record(name)
    if not record:
        return None
    pid = record["pid"]
    start = proc_start_time(pid)
    if start is None or start != record["start"]:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    if re.search(r"^State:\s+Z", status, re.M):
        return None
    return pid


def component_env(env_extra: dict | None = None) -> dict[str, str]:
    """The caller's environment without what would point a component elsewhere,
    and a PATH with the sbin directories (sudo and make may drop them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "NOTIFY_SOCKET"))}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env.update(env_extra or {})
    return env


def start_process(name: str, argv: list, env_extra: dict | None = None) -> int:
    state = layout.STATE
    state.logs.mkdir(parents=True, exist_ok=True)
    state.pids.mkdir(parents=True, exist_ok=True)
    log_path = state.log_file(name)
    if log_path.exists() and log_path.stat().st_size > LOG_ROTATE_BYTES:
        log_path.replace(log_path.with_suffix(".log.1"))
    with open(log_path, "ab") as out:
        out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(str(a) for a in argv)}\n".encode())
        out.flush()
        # A session of its own: the cluster outlives the shell or make that
        # started it and ignores their signals.
        process = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=state.root,
            env=component_env(env_extra),
            start_new_session=True,
        )
    start = None
    for _attempt in range(50):
        start = proc_start_time(process.pid)
        if start:
            break
        time.sleep(0.01)
    record = {"pid": process.pid, "start": start, "argv": [str(a) for a in argv]}
    state.pid_file(name).write_text(json.dumps(record) + "\n", encoding="utf-8")
    return process.pid


def stop_process(name: str, timeout: float = 20) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True when it was running."""
    pid_file = layout.STATE.pid_file(name)
    pid = running_pid(name)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(name) == pid:
        time.sleep(0.1)
    if running_pid(name) == pid:
        log(f"{name} (pid {pid}) ignored SIGTERM for {timeout:.0f}s; sending SIGKILL")
        os.kill(pid, signal.SIGKILL)
        while running_pid(name) == pid:
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return True


def log_tail(name: str, lines: int = 25) -> str:
    try:
        text = layout.STATE.log_file(name).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def children_of(pid: int) -> list[int]:
    """All descendants of a process."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def runtime_shims() -> list[int]:
    """containerd-shim processes of this cluster's containerd (found by its socket address)."""
    address = str(layout.STATE.containerd_sock)
    shims = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and address.encode() in argv:
            shims.append(int(entry.name))
    return shims


def kill_leftover_shims() -> None:
    """Shims still there after containerd stopped: left over only when the CRI
    sweep failed. Ends the pods' processes and their shim, all started by this
    cluster's containerd."""
    for shim in runtime_shims():
        for pid in reversed(children_of(shim)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(shim, signal.SIGKILL)
        log(f"killed leftover runtime shim {shim}")


def foreign_components() -> list[str]:
    """Kubernetes node components running on this host that this state dir did not start
    (another state dir's cluster): `down` must not clean the network state they use."""
    ours = {running_pid(name) for name in COMPONENTS}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        try:
            comm = (entry / "comm").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if comm in ("kubelet", "kube-proxy"):
            found.append(f"{comm} (pid {entry.name})")
    return found


def cluster_pids() -> dict[str, list[int]]:
    """Every process of the running cluster: components, runtime shims and the pods under them."""
    result: dict[str, list[int]] = {}
    for name in COMPONENTS:
        pid = running_pid(name)
        if pid:
            result[name] = [pid]
    shims = runtime_shims()
    if shims:
        result["containerd-shims"] = shims
        result["pods"] = [p for s in shims for p in children_of(s)]
    return result


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB; PSS shares the multi-call binary's pages fairly."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="utf-8").splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def memory_of(pids: list[int]) -> tuple[int, int]:
    usage = [memory_kib(pid) for pid in pids]
    return sum(u[0] for u in usage), sum(u[1] for u in usage)
