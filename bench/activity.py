"""CPU per IOPub message of the server's kernel-activity callback: jupyter_server's
own (the floor: what a stock server spends) against remotedev_nodelay's lean one,
on the same real messages, measured in one run.

    .venv/bin/python bench/activity.py [--rounds 2000]

A real kernel (the controller venv's python3) runs an execute with a result, one
with an error, kernel_info and comm_info; its raw IOPub frames are then fed to
both callbacks `--rounds` times. The server runs this callback for every IOPub
message of every kernel (about five per executed cell), next to the websocket
relay. Prints CPU µs per message (process time, so a busy machine
moves both figures less) and the lean/stock ratio. Not a test: nothing
fails on a number.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests/image"), str(REPO / "roles/image/files/remotedev_nodelay")]
sys.dont_write_bytecode = True

from remotedev_nodelay import activity  # noqa: E402
from test_nodelay import _watch  # noqa: E402


def capture_iopub() -> tuple[bytes, list[list[bytes]]]:
    """The session key and raw IOPub frames of a few requests to a real kernel."""
    import zmq
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        iopub = manager.connect_iopub()
        iopub.setsockopt(zmq.RCVTIMEO, 1000)
        time.sleep(0.5)  # the SUB socket joins late
        for request in (client.kernel_info, lambda: client.execute("1+1"), lambda: client.execute("1/0"),
                        client.comm_info):
            request()
            time.sleep(0.3)
        frames = []
        while True:
            try:
                frames.append(iopub.recv_multipart())
            except zmq.Again:
                break
        client.stop_channels()
        iopub.close()
        return manager.session.key, frames
    finally:
        manager.shutdown_kernel(now=True)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
