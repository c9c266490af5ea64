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
    assert "remotedev_nodelay 1.0.0: TCP_NODELAY on websockets of" in log
    assert "KernelWebsocketHandler" in log and "TermSocket" in log


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
