"""The server's kernel-activity watching: jupyter_server's own (the floor: what
a stock server spends) against remotedev_nodelay's, measured in one run.

    .venv/bin/python bench/activity.py [--rounds 2000] [--clients 8 --seconds 12 --repeat 3]

1. Per message: a real kernel (the controller venv's python3) runs an execute
   with a result, one with an error, kernel_info and comm_info; its raw IOPub
   frames are fed to both callbacks `--rounds` times (CPU µs per message;
   the lean side's is the kernel's IOPub subscription as the extension installs
   it, with no websocket tapping it).
2. Per cell: two real `jupyter server` processes side by side, both with TCP_NODELAY
   on their websockets, one keeping the stock activity watcher (and an IOPub
   subscription per websocket) and one with the whole extension (the lean
   callback, one IOPub subscription per kernel shared by its websockets); `--clients` clients (a process each, v1 websocket protocol) execute
   cells on each in turn for `--seconds`, `--repeat` times. Prints the server
   process's CPU per cell and the cells done.

CPU is process time, so a busy machine moves both figures less than wall time.
Not a test: nothing fails on a number.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests/image"), str(REPO / "roles/image/files/remotedev_nodelay")]
sys.dont_write_bytecode = True

from jupyter_probe import KernelSocket, LocalServer  # noqa: E402
from remotedev_nodelay import activity  # noqa: E402
from test_nodelay import EXTENSION_SRC, _watch, capture_iopub  # noqa: E402

# The stock side: TCP_NODELAY as in the image, jupyter_server's own activity callback.
NODELAY_ONLY = """
import remotedev_nodelay


def _jupyter_server_extension_points():
    return [{"module": "nodelay_only"}]


def _load_jupyter_server_extension(serverapp):
    for cls in remotedev_nodelay.resolve_handlers():
        remotedev_nodelay.patch_handler(cls)
"""


def distinct_copies(key: bytes, frames: list[list[bytes]], rounds: int) -> list[list[bytes]]:
    """`rounds` copies of `frames`, each message with a msg_id of its own and
    signed again: the stock callback refuses a signature it has seen."""
    import json
    import uuid

    from jupyter_client.session import DELIM, Session

    session = Session(key=key)
    copies = []
    for dummy_round in range(rounds):
        for raw in frames:
            at = raw.index(DELIM) + 1
            header = json.loads(raw[at + 1])
            header["msg_id"] = uuid.uuid4().hex
            parts = [json.dumps(header).encode()] + list(raw[at + 2:at + 5])
            copies.append(list(raw[:at]) + [session.sign(parts)] + parts + list(raw[at + 5:]))
    return copies


def per_message_seconds(watch, key: bytes, messages: list[list[bytes]]) -> float:
    dummy, kernel = _watch(watch, key)
    callback = kernel.stream.callback
    started = time.process_time()
    for raw in messages:
        callback(raw)
    return (time.process_time() - started) / len(messages)


def process_cpu(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cell_client(url: str, token: str, seconds: float, start, done) -> None:
    with KernelSocket(url, token, protocol="v1") as kernel:
        start.wait()
        cells, stop_at = 0, time.monotonic() + seconds
        while time.monotonic() < stop_at:
            kernel.roundtrips(1)
            cells += 1
    done.put(cells)


def server_cpu_per_cell(server: LocalServer, clients: int, seconds: float) -> tuple[int, float]:
    """Cells done and the server's CPU ms per cell, `clients` clients at once."""
    context = multiprocessing.get_context("fork")
    start, done = context.Barrier(clients + 1), context.Queue()
    processes = [context.Process(target=cell_client, args=(server.url, server.token, seconds, start, done))
                 for dummy in range(clients)]
    for process in processes:
        process.start()
    start.wait()
    before = process_cpu(server.process.pid)
    cells = sum(done.get() for dummy in processes)
    after = process_cpu(server.process.pid)
    for process in processes:
        process.join()
    return cells, 1000 * (after - before) / max(cells, 1)


def compare_servers(clients: int, seconds: float, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-activity-") as tmp:
        Path(tmp, "nodelay_only.py").write_text(NODELAY_ONLY, encoding="utf-8")
        with LocalServer(extensions={"nodelay_only": True}, extra_pythonpath=[str(EXTENSION_SRC), tmp]) as stock, \
                LocalServer(extensions={"remotedev_nodelay": True}, extra_pythonpath=[str(EXTENSION_SRC)]) as lean:
            totals = {"stock": [0, 0.0], "lean": [0, 0.0]}
            for dummy in range(repeat):
                for name, server in (("stock", stock), ("lean", lean)):
                    cells, ms = server_cpu_per_cell(server, clients, seconds)
                    totals[name][0] += cells
                    totals[name][1] += ms * cells
                    print(f"  {name:5} server: {cells:5} cells in {seconds:g} s, {ms:.2f} ms server CPU per cell", flush=True)
    stock_ms, lean_ms = (totals[name][1] / max(totals[name][0], 1) for name in ("stock", "lean"))
    print(f"server CPU per cell: stock {stock_ms:.2f} ms, lean {lean_ms:.2f} ms, lean/stock {lean_ms / stock_ms:.2f}x; "
          f"cells lean/stock {totals['lean'][0] / max(totals['stock'][0], 1):.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="copies of the captured messages per callback")
    parser.add_argument("--clients", type=int, default=8, help="clients per server in the per-cell comparison")
    parser.add_argument("--seconds", type=float, default=12, help="seconds of cells per turn")
    parser.add_argument("--repeat", type=int, default=3, help="turns per server")
    args = parser.parse_args()
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

    key, frames = capture_iopub()
    if len(frames) < 8:
        print(f"only {len(frames)} IOPub messages captured", file=sys.stderr)
        return 2
    messages = distinct_copies(key, frames, args.rounds)
    stock = per_message_seconds(MappingKernelManager.start_watching_activity, key, messages)
    lean = per_message_seconds(activity.start_watching_activity, key, messages)
    print(f"{len(frames)} IOPub messages x {args.rounds} rounds")
    print(f"stock callback {stock * 1e6:7.1f} µs/message")
    print(f"lean callback  {lean * 1e6:7.1f} µs/message   lean/stock {lean / stock:.2f}x")
    compare_servers(args.clients, args.seconds, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
