"""The remotedev_nodelay server extension, on real jupyter server processes
from the controller venv: a stock server and one with the extension, in the
same run. The round-trip comparison is a ratio, so a slow or busy machine
moves both figures alike."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from jupyter_probe import KernelSocket, LocalServer, TerminalSocket, p50

EXTENSION_SRC = Path(__file__).resolve().parents[2] / "roles/image/files/remotedev_nodelay"
sys.path.insert(0, str(EXTENSION_SRC))
sys.dont_write_bytecode = True  # no __pycache__ in the role's files

import remotedev_nodelay  # noqa: E402
from remotedev_nodelay import activity  # noqa: E402

# The extension must at least halve the stock round-trip (measured here:
# stock ~48 ms, with the extension ~6 ms for a kernel, ~44 vs ~10 ms for a
# terminal). A regression to Nagle's delay brings the ratio back to ~1.
MAX_RATIO = 0.5
SAMPLES = 60


class _Recorder:
    """Stands in for a websocket handler: records what open() saw."""

    def __init__(self):
        self.nodelay = None
        self.nodelay_at_open = None

    def set_nodelay(self, value):
        self.nodelay = value


class _Handler(_Recorder):
    def open(self, *args):
        self.nodelay_at_open = self.nodelay
        return args


class _AsyncHandler(_Recorder):
    async def open(self, *args):
        self.nodelay_at_open = self.nodelay
        return args


@pytest.mark.parametrize("cls", [_Handler, _AsyncHandler])
def test_patch_sets_nodelay_before_open_runs(cls):
    patched = type("Patched", (cls,), {})
    assert remotedev_nodelay.patch_handler(patched) is True
    assert remotedev_nodelay.patch_handler(patched) is False, "patching twice must be a no-op"
    handler = patched()
    result = handler.open("kernel-id")
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    assert result == ("kernel-id",)
    assert handler.nodelay_at_open is True


def test_handlers_resolve_to_the_real_classes():
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
    from jupyter_server_terminals.handlers import TermSocket

    classes = remotedev_nodelay.resolve_handlers()
    assert KernelWebsocketHandler in classes
    assert TermSocket in classes
    assert remotedev_nodelay.resolve_handlers(["no_such_module:Handler"]) == []


def test_extension_points():
    assert remotedev_nodelay._jupyter_server_extension_points() == [{"module": "remotedev_nodelay"}]


@pytest.fixture(scope="module")
def servers():
    """A stock server and one with the extension, side by side."""
    with LocalServer(extra_pythonpath=[str(EXTENSION_SRC)]) as stock, LocalServer(
        extensions={"remotedev_nodelay": True}, extra_pythonpath=[str(EXTENSION_SRC)]
    ) as nodelay:
        yield stock, nodelay


def test_extension_loads(servers):
    nodelay = servers[1]
    log = nodelay.log()
    assert f"remotedev_nodelay {remotedev_nodelay.__version__}: TCP_NODELAY on websockets of" in log
    assert "KernelWebsocketHandler" in log and "TermSocket" in log
    assert "kernel activity read from message headers only" in log


@pytest.mark.parametrize("protocol", ["legacy", "v1"])
def test_kernel_roundtrip_ratio(servers, protocol):
    """Both websocket protocols: legacy JSON and the binary v1 of JupyterLab."""
    stock, nodelay = servers
    with KernelSocket(stock.url, stock.token, protocol=protocol) as kernel:
        stock_p50 = p50(kernel.roundtrips(SAMPLES))
    with KernelSocket(nodelay.url, nodelay.token, protocol=protocol) as kernel:
        assert kernel.execute("1+1")["result"] == "2"
        nodelay_p50 = p50(kernel.roundtrips(SAMPLES))
    ratio = nodelay_p50 / stock_p50
    print(f"kernel execute round-trip ({protocol}) p50: stock {stock_p50 * 1e3:.1f} ms, "
          f"nodelay {nodelay_p50 * 1e3:.1f} ms, ratio {ratio:.2f}")
    assert ratio <= MAX_RATIO, (
        f"with remotedev_nodelay the round-trip is {ratio:.2f} of the stock server's "
        f"({nodelay_p50 * 1e3:.1f} vs {stock_p50 * 1e3:.1f} ms): Nagle's delay is back")


def test_terminal_roundtrip_ratio(servers):
    stock, nodelay = servers
    with TerminalSocket(stock.url, stock.token) as terminal:
        stock_p50 = p50(terminal.roundtrips(SAMPLES // 2))
    with TerminalSocket(nodelay.url, nodelay.token) as terminal:
        nodelay_p50 = p50(terminal.roundtrips(SAMPLES // 2))
    ratio = nodelay_p50 / stock_p50
    print(f"terminal round-trip p50: stock {stock_p50 * 1e3:.1f} ms, "
          f"nodelay {nodelay_p50 * 1e3:.1f} ms, ratio {ratio:.2f}")
    assert ratio <= MAX_RATIO, (
        f"with remotedev_nodelay the terminal round-trip is {ratio:.2f} of the stock server's")


# --- kernel activity: the lean IOPub callback against upstream's, message by message


class _Stream:
    def on_recv(self, callback):
        self.callback = callback


class _Kernel:
    """What start_watching_activity touches of a kernel manager's kernel."""

    def __init__(self, session):
        self.session = session
        self.execution_state = "starting"
        self.last_activity = None

    def connect_iopub(self):
        self.stream = _Stream()
        return self.stream


def _watch(watch, key):
    """Run `watch` (a start_watching_activity) on a manager with one fake kernel."""
    from jupyter_client.session import Session
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

    manager = MappingKernelManager()
    kernel = _Kernel(Session(key=key))
    manager._kernels["k"] = kernel
    watch(manager, "k")
    return manager, kernel


def capture_iopub():
    """The session key and raw IOPub frames of a real kernel: starting,
    kernel_info, an execute with a result, one with an error, and a comm_info
    request (bench/activity.py feeds the same to both callbacks)."""
    import zmq
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        iopub = manager.connect_iopub()
        iopub.setsockopt(zmq.RCVTIMEO, 10000)
        frames = []

        def collect(msg_id):
            while True:
                raw = iopub.recv_multipart()
                frames.append(raw)
                msg = manager.session.deserialize(manager.session.feed_identities(raw)[1])
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" \
                        and msg["content"]["execution_state"] == "idle":
                    return

        # the SUB socket joins late: ask until its first idle arrives
        while not frames:
            msg_id = client.kernel_info()
            try:
                collect(msg_id)
            except zmq.Again:
                frames.clear()
        for request in (lambda: client.execute("1+1"), lambda: client.execute("1/0"), client.comm_info):
            collect(request())
        client.stop_channels()
        iopub.close()
        return manager.session.key, frames
    finally:
        manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def iopub_messages():
    return capture_iopub()


@pytest.mark.parametrize("order", ["as sent", "reversed", "shuffled"])
def test_lean_activity_matches_upstream_message_by_message(iopub_messages, order):
    """Out of order too: an untracked message arriving while the kernel is
    busy (the comm_info after an execute's busy) must count as activity."""
    import random

    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

    key, frames = iopub_messages
    frames = list(frames)
    if order == "reversed":
        frames.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(frames)
    stock_manager, stock = _watch(MappingKernelManager.start_watching_activity, key)
    lean_manager, lean = _watch(activity.start_watching_activity, key)
    assert len(frames) >= 12
    seen_states = set()
    for raw in frames:
        stock_before, lean_before = stock.last_activity, lean.last_activity
        stock.stream.callback(list(raw))
        lean.stream.callback(list(raw))
        assert lean.execution_state == stock.execution_state
        assert (lean.last_activity != lean_before) == (stock.last_activity != stock_before)
        if lean.last_activity != lean_before:
            assert lean_manager.last_kernel_activity == lean.last_activity
        seen_states.add(stock.execution_state)
    assert {"idle", "busy"} <= seen_states
    assert lean.reason == ""


def test_lean_activity_refuses_a_forged_signature(iopub_messages):
    key, frames = iopub_messages
    dummy, lean = _watch(activity.start_watching_activity, key)
    raw = list(frames[-1])
    raw[raw.index(b"<IDS|MSG>") + 1] = b"0" * 64
    with pytest.raises(ValueError, match="Invalid Signature"):
        lean.stream.callback(raw)


def test_patch_only_a_stock_watcher():
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager, MappingKernelManager

    manager = AsyncMappingKernelManager()
    assert activity.patch_kernel_manager(manager) is True
    assert activity.patch_kernel_manager(manager) is False, "patching twice must be a no-op"

    class OwnWatcher(MappingKernelManager):
        def start_watching_activity(self, kernel_id):
            pass

    assert activity.patch_kernel_manager(OwnWatcher()) is False
    assert activity.patch_kernel_manager(object()) is False


def test_kernel_state_through_the_patched_server(servers):
    """The server with the extension still reports busy/idle and activity."""
    from jupyter_probe import api

    nodelay = servers[1]
    with KernelSocket(nodelay.url, nodelay.token, protocol="v1") as kernel:
        before = api(nodelay.url, f"api/kernels/{kernel.kernel['id']}", nodelay.token)
        assert kernel.execute("import time; time.sleep(0.05); 6*7")["result"] == "42"
        after = api(nodelay.url, f"api/kernels/{kernel.kernel['id']}", nodelay.token)
    assert after["execution_state"] == "idle"
    assert after["last_activity"] > before["last_activity"]
