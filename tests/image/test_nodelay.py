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


class _Socket:
    """A kernel's IOPub socket with nothing more waiting to be read."""

    def recv_multipart(self, flags=0):
        import zmq

        raise zmq.Again()


class _Stream:
    socket = _Socket()

    def on_recv(self, callback):
        self.callback = callback

    def closed(self):
        return False


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

        # the SUB socket joins late: ask until its first idle arrives; that
        # round may have missed its busy, so it is dropped and asked again
        while not frames:
            msg_id = client.kernel_info()
            try:
                collect(msg_id)
            except zmq.Again:
                frames.clear()
        frames.clear()
        for request in (client.kernel_info, lambda: client.execute("1+1"), lambda: client.execute("1/0"),
                        client.comm_info):
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


def test_lean_activity_refuses_a_forged_signature(iopub_messages, caplog):
    from jupyter_client.session import Session

    key, frames = iopub_messages
    manager, lean = _watch(activity.start_watching_activity, key)
    raw = list(frames[-1])
    raw[raw.index(b"<IDS|MSG>") + 1] = b"0" * 64
    with pytest.raises(ValueError, match="Invalid Signature"):
        activity.activity_recorder(manager, lean, "k", Session(key=key))(raw)
    # Through the kernel's subscription: logged (as ZMQStream logs a failing
    # callback) and not counted as activity.
    before = lean.last_activity
    with caplog.at_level("ERROR"):
        lean.stream.callback(raw)
    assert "Uncaught exception in the kernel activity callback" in caplog.text
    assert "Invalid Signature" in caplog.text
    assert lean.last_activity == before


class _MovingKernel(_Kernel):
    """A kernel in its own pod: an automatic restart may bring it back at a new address."""

    transport, ip, iopub_port = "tcp", "10.0.0.1", 5000

    def __init__(self, session):
        super().__init__(session)
        self.streams = []

    def connect_iopub(self):
        stream = _Stream()
        stream.socket = type("Socket", (_Socket,), {"closed": False})()
        stream.close = lambda: setattr(stream.socket, "closed", True)
        stream.closed = lambda: stream.socket.closed
        self.streams.append(stream)
        self.stream = stream
        return stream

    async def restart_kernel(self, now=False, newports=False, to=None):
        if to:
            self.ip = to


def test_watcher_follows_an_automatic_restart_that_moves_the_kernel(iopub_messages):
    """jupyter_server watches a kernel again only after a restart through its API:
    after the restarter brought a pod kernel back elsewhere its activity (and a
    busy state it died in) would stay stale, and its websockets' shared IOPub dead."""
    from jupyter_client.session import Session
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

    key, frames = iopub_messages
    manager = MappingKernelManager()
    kernel = _MovingKernel(Session(key=key))
    manager._kernels["k"] = kernel
    assert activity.patch_kernel_manager(manager)
    manager.start_watching_activity("k")
    hub = iopub.IOPubHub.of(kernel)
    tap, got = hub.tap(), []
    tap.on_recv(got.append)
    first = kernel.stream
    first.callback(list(frames[2]))  # the busy of an execute
    assert kernel.execution_state == "busy"

    # The kernel died busy; the restarter brings it back in a new pod.
    asyncio.run(kernel.restart_kernel(now=True, to="10.0.0.2"))
    assert first.closed() and kernel.stream is not first and kernel._activity_stream is kernel.stream
    assert kernel.execution_state == "starting" and hub.serves(kernel)
    got.clear()
    for raw in frames[:2]:  # kernel_info: busy, idle
        kernel.stream.callback(list(raw))
    assert kernel.execution_state == "idle"
    assert len(got) == 2, "a websocket opened before the restart hears the kernel where it is now"

    # Back at the same address: the subscription still reaches it.
    asyncio.run(kernel.restart_kernel(now=True))
    assert len(kernel.streams) == 2 and kernel.execution_state == "idle"

    # A stopped watcher (a kernel shutting down) stays stopped.
    manager.stop_watching_activity("k")
    asyncio.run(kernel.restart_kernel(now=True, to="10.0.0.3"))
    assert kernel._activity_stream is None and len(kernel.streams) == 2
    assert activity.follow_restarts(manager, "k", kernel) is False, "wrapped once"


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


# --- one IOPub subscription per kernel, shared by its activity watcher and its websockets

from remotedev_nodelay import iopub  # noqa: E402


class _Hub(iopub.IOPubHub):
    """A hub whose kernel's subscription is a fake: what flush() asked is counted."""

    def __init__(self):
        super().__init__()
        self.flushed = 0
        self._stream = self

    def closed(self):
        return False

    def flush(self):
        self.flushed += 1


def test_tap_holds_messages_until_a_callback_then_delivers_them_in_order():
    hub = _Hub()
    tap = hub.tap()
    got = []
    for n in range(3):
        hub.publish([b"m%d" % n])

    async def set_callback_then_publish():
        tap.on_recv(got.append)
        assert got == [], "what waited is delivered from the loop, not inside on_recv"
        hub.publish([b"m3"])  # arrives before the loop's turn: still after m0-m2
        await asyncio.sleep(0)

    asyncio.run(set_callback_then_publish())
    assert got == [[b"m0"], [b"m1"], [b"m2"], [b"m3"]]
    tap.stop_on_recv()
    hub.publish([b"m4"])
    assert got[-1] == [b"m3"], "no callback, no delivery"
    seen = []
    tap.on_recv_stream(lambda stream, msg: seen.append((stream, msg)))
    assert tap.flush() == 1 and hub.flushed == 1, "flush reads the kernel's subscription, then what waited"
    assert seen == [(tap, [b"m4"])]


def test_tap_drops_beyond_the_socket_high_water_mark():
    hub = _Hub()
    tap = hub.tap()
    for n in range(iopub.PENDING_LIMIT + 5):
        hub.publish([b"%d" % n])
    assert tap.dropped == 5
    got = []
    tap.on_recv(got.append)
    tap.flush()
    assert len(got) == iopub.PENDING_LIMIT and got[0] == [b"0"]


def test_closed_tap_leaves_the_hub_and_a_failing_tap_starves_no_other(caplog):
    hub = _Hub()
    closing, failing, healthy = hub.tap(), hub.tap(), hub.tap()
    got = []
    failing.on_recv(lambda msg: 1 / 0)
    healthy.on_recv(got.append)
    closing.close()
    assert closing.closed() and closing.socket.closed and closing not in hub.taps
    with caplog.at_level("ERROR"):
        hub.publish([b"x"])
    assert got == [[b"x"]]
    assert "Uncaught exception in an IOPub tap callback" in caplog.text


def test_connection_without_a_hub_keeps_its_own_subscription():
    """A kernel whose watcher has not started (or is not ours) is served the stock way."""
    from jupyter_client.session import Session
    from traitlets.config import LoggingConfigurable

    calls = []

    class Kernel(LoggingConfigurable):
        def __getattr__(self, name):
            if name.startswith("connect_"):
                def connect(identity=None):
                    calls.append(name)
                    return type("Stream", (), {})()
                return connect
            raise AttributeError(name)

    stock = Kernel()
    connection = iopub.SharedIOPubConnection(parent=stock, session=Session())
    connection.create_stream()
    assert calls == ["connect_iopub", "connect_shell", "connect_control", "connect_stdin"]

    watched = Kernel()
    watched.ip, watched.iopub_port = "10.0.0.1", 5000
    hub = iopub.IOPubHub.of(watched)
    hub.attach(_Stream(), lambda msg_list: None, endpoint=iopub.iopub_endpoint(watched))
    calls.clear()
    connection = iopub.SharedIOPubConnection(parent=watched, session=Session())
    connection.create_stream()
    assert calls == ["connect_shell", "connect_control", "connect_stdin"]
    assert connection.channels["iopub"] in hub.taps
    assert connection.channels["iopub"].connection is connection
    assert [connection.channels[name].channel for name in ("iopub", "shell", "control", "stdin")] == [
        "iopub", "shell", "control", "stdin"]

    # An automatic restart put the kernel (a pod kernel) at a new address: the
    # hub's subscription no longer reaches it, so the websocket subscribes itself.
    watched.ip = "10.0.0.2"
    calls.clear()
    connection = iopub.SharedIOPubConnection(parent=watched, session=Session())
    connection.create_stream()
    assert calls == ["connect_iopub", "connect_shell", "connect_control", "connect_stdin"]
    assert len(hub.taps) == 1


def test_cork_holds_and_uncork_sends_on_tcp_only():
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, dummy = listener.accept()
    unix = socket.socketpair(socket.AF_UNIX)

    def connection(sock):
        stream = type("Stream", (), {"socket": sock})()
        ws = type("WS", (), {"stream": stream})()
        return type("Connection", (), {"websocket_handler": type("H", (), {"ws_connection": ws})()})()

    try:
        corked = iopub.cork([connection(server), connection(unix[0]), None])
        assert corked == [server]
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 1
        server.sendall(b"held")
        iopub.uncork(corked)
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0
        client.settimeout(5)
        assert client.recv(16) == b"held"
    finally:
        for sock in (listener, client, server, *unix):
            sock.close()


class _Attached(KernelSocket):
    """One more websocket on a kernel started by someone else; closing it leaves the kernel."""

    def __init__(self, url, token, kernel_id, session=None, protocol="v1", timeout=30, wait_ready=True):
        import uuid

        import websocket

        from jupyter_probe import V1_PROTOCOL

        self.timeout, self.protocol, self.url, self.token = timeout, protocol, url, token
        self.session = session or uuid.uuid4().hex
        self.ws = websocket.create_connection(
            url.replace("http", "ws", 1).rstrip("/") + f"/api/kernels/{kernel_id}/channels?session_id={self.session}",
            header=[f"Authorization: token {token}"], timeout=timeout,
            subprotocols=[V1_PROTOCOL] if protocol == "v1" else None)
        if wait_ready:  # (it reads past what a reconnection replays)
            self._wait_ready()

    def close(self):
        self.ws.close()

    def stream_text_until(self, text):
        out = ""
        while text not in out:
            msg = self._recv()
            if msg["msg_type"] == "stream":
                out += msg["content"]["text"]
        return out


def test_extension_shares_iopub(servers):
    assert "one IOPub subscription per kernel, shared by its websockets" in servers[1].log()


@pytest.mark.parametrize("protocol", ["legacy", "v1"])
def test_every_websocket_of_a_kernel_sees_its_output(servers, protocol):
    nodelay = servers[1]
    with KernelSocket(nodelay.url, nodelay.token, protocol=protocol) as owner:
        for dummy in range(5):  # websockets come and go; the others keep theirs
            _Attached(nodelay.url, nodelay.token, owner.kernel["id"], protocol=protocol).close()
        watcher = _Attached(nodelay.url, nodelay.token, owner.kernel["id"], protocol=protocol)
        try:
            assert owner.execute("print('to both')")["stdout"] == "to both\n"
            assert watcher.stream_text_until("to both") == "to both\n"
        finally:
            watcher.close()
        # Many messages at once (read and relayed in batches): all, in order.
        lines = owner.execute("for i in range(400): print(i, flush=True)")["stdout"]
        assert lines == "".join(f"{i}\n" for i in range(400))
    assert "Uncaught exception" not in nodelay.log()


def test_output_while_away_is_replayed_and_a_restart_keeps_the_websocket(servers):
    from jupyter_probe import _message, api

    nodelay = servers[1]
    with KernelSocket(nodelay.url, nodelay.token, protocol="v1") as owner:
        owner._send(_message("execute_request", {"code": "import time; time.sleep(1); print('while away')",
                                                 "silent": False, "store_history": False, "user_expressions": {},
                                                 "allow_stdin": False, "stop_on_error": True}, owner.session))
        owner.ws.close()
        import time

        time.sleep(2)
        back = _Attached(nodelay.url, nodelay.token, owner.kernel["id"], session=owner.session, wait_ready=False)
        try:
            assert "while away" in back.stream_text_until("while away")
            assert back.execute("x = 1; x")["result"] == "1"
            api(nodelay.url, f"api/kernels/{owner.kernel['id']}/restart", nodelay.token, method="POST")
            after = back.execute("print('after'); 'x' in dir()")
            assert after["stdout"] == "after\n" and after["result"] == "False"
            assert api(nodelay.url, f"api/kernels/{owner.kernel['id']}", nodelay.token)["execution_state"] == "idle"
        finally:
            back.close()
