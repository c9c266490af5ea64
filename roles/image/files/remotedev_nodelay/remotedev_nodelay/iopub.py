"""One IOPub subscription per kernel, shared by its activity watcher and its websockets.

A stock server subscribes to a kernel's IOPub once for its activity watcher
and once more for every websocket connected to the kernel, so each message the
kernel publishes is received, woken for and dispatched twice or more by the
server's one event loop. Measured under 8 busy clients (two servers side by
side on the host), the activity watcher's own subscription was about a quarter
of the server's CPU per cell.

Here the watcher's subscription (`IOPubHub`, kept on the kernel's manager
across restarts, subscribed anew where a restart moved the kernel) hands
every message on to a tap per websocket connection. `IOPubTap` stands where the connection's own IOPub
ZMQStream stood and keeps what the connection relies on from one: a message
arriving while no callback is set waits (as it would in the socket, and up to
the same high-water mark), `flush()` delivers what has arrived, `close()`
ends it. What a kernel published while the server was busy elsewhere is read
in one go, and each websocket is corked for that batch so that its frames
leave in one TCP segment rather than one each. Kernels without a hub (a
watcher not yet started, or a kernel manager that watches its own way), or
whose subscription does not reach them yet (a restart moved the kernel and the
watcher has not subscribed at its new address), keep the stock per-connection
subscription.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import socket
import typing as t

import zmq

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

HUB_ATTRIBUTE = "_remotedev_iopub_hub"

#: Messages a tap holds while no callback is set; pyzmq's default receive
#: high-water mark, where a stock connection's own socket would start dropping.
PENDING_LIMIT = 1000

#: Messages read from a kernel's IOPub in one go before the event loop turns to
#: other kernels and clients again.
BATCH_LIMIT = 64

_log = logging.getLogger(__name__)


class _TapSocket:
    """The `stream.socket.closed` that jupyter_server's buffering checks."""

    def __init__(self, tap: IOPubTap) -> None:
        self._tap = tap

    @property
    def closed(self) -> bool:
        return self._tap.closed()


class IOPubTap:
    """One websocket connection's view of its kernel's IOPub messages."""

    def __init__(self, hub: IOPubHub, connection: t.Any = None) -> None:
        self._hub = hub
        self.connection = connection
        self._callback: t.Callable[[list], t.Any] | None = None
        self._pending: collections.deque[list] = collections.deque()
        self._closed = False
        self.dropped = 0
        self.channel = "iopub"
        self.socket = _TapSocket(self)

    # The ZMQStream interface jupyter_server's connection and buffering use.

    def on_recv(self, callback: t.Callable[[list], t.Any] | None, copy: bool = True) -> None:
        self._set_callback(callback)

    def on_recv_stream(self, callback: t.Callable[[t.Any, list], t.Any] | None, copy: bool = True) -> None:
        self._set_callback(None if callback is None else functools.partial(callback, self))

    def stop_on_recv(self) -> None:
        self._callback = None

    def flush(self) -> int:
        """Deliver what the kernel has published so far, as ZMQStream.flush does."""
        self._hub.flush()
        return self._drain()

    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._callback = None
        self._pending.clear()
        self._hub.remove(self)

    # Fed by the hub.

    def deliver(self, msg_list: list) -> None:
        if self._closed:
            return
        if self._callback is not None and not self._pending:
            self._callback(msg_list)
        elif len(self._pending) >= PENDING_LIMIT:
            self.dropped += 1
        else:
            self._pending.append(msg_list)
            self._drain()

    def _set_callback(self, callback: t.Callable[[list], t.Any] | None) -> None:
        self._callback = callback
        if callback is not None and self._pending:
            # As a stream's socket would: what waited is read from the loop,
            # not from inside the caller that set the callback.
            from tornado.ioloop import IOLoop

            IOLoop.current().add_callback(self._drain)

    def _drain(self) -> int:
        delivered = 0
        while self._callback is not None and self._pending and not self._closed:
            self._callback(self._pending.popleft())
            delivered += 1
        return delivered


class IOPubHub:
    """A kernel's one IOPub subscription: the activity watcher's, handed on to its taps."""

    def __init__(self) -> None:
        self._taps: list[IOPubTap] = []
        self._stream: t.Any = None
        self._record: t.Callable[[list], None] = lambda msg_list: None
        self._log: t.Any = _log
        self._endpoint: tuple = ()

    @classmethod
    def of(cls, kernel: t.Any) -> IOPubHub:
        """The kernel's hub, made on first use and kept for its lifetime."""
        hub = getattr(kernel, HUB_ATTRIBUTE, None)
        if hub is None:
            hub = cls()
            setattr(kernel, HUB_ATTRIBUTE, hub)
        return hub

    def attach(self, stream: t.Any, record: t.Callable[[list], None], log: t.Any = _log,
               endpoint: tuple = ()) -> None:
        """Receive from `stream` (a new subscription after a restart), `record` each message first.

        `endpoint` is the kernel's `iopub_endpoint` the stream was connected to.
        """
        self._stream, self._record, self._log, self._endpoint = stream, record, log, endpoint
        stream.on_recv(self._receive)

    def serves(self, kernel: t.Any) -> bool:
        """Whether the subscription reaches the kernel where it is now.

        A restart gives a kernel in its own pod a new address; the activity
        watcher subscribes there once the restart is over (through the API by
        jupyter_server, automatic ones by `activity.follow_restarts`). A
        websocket opened before that gets a subscription of its own, as on a
        stock server.
        """
        return self._stream is not None and not self._stream.closed() and self._endpoint == iopub_endpoint(kernel)

    def tap(self, connection: t.Any = None) -> IOPubTap:
        tap = IOPubTap(self, connection)
        self._taps.append(tap)
        return tap

    def remove(self, tap: IOPubTap) -> None:
        if tap in self._taps:
            self._taps.remove(tap)

    @property
    def taps(self) -> tuple[IOPubTap, ...]:
        return tuple(self._taps)

    def _receive(self, first: list) -> None:
        # ZMQStream hands over one message per turn of the event loop; what the
        # kernel published meanwhile is read now, so that a websocket gets the
        # lot in one TCP segment instead of a send and a wake-up per message.
        batch = [first]
        socket = self._stream.socket
        while len(batch) < BATCH_LIMIT:
            try:
                batch.append(socket.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
        corked = cork([tap.connection for tap in self._taps]) if len(batch) > 1 else []
        try:
            for msg_list in batch:
                try:
                    self._record(msg_list)
                except Exception:  # noqa: BLE001 (one bad message must not drop the rest of the batch)
                    self._log.error("Uncaught exception in the kernel activity callback", exc_info=True)
                self.publish(msg_list)
        finally:
            uncork(corked)

    def publish(self, msg_list: list) -> None:
        """Hand one message to every tap; one failing tap does not starve the others."""
        for tap in tuple(self._taps):
            try:
                tap.deliver(list(msg_list))
            except Exception:  # noqa: BLE001 (logged as ZMQStream logs a callback's error)
                self._log.error("Uncaught exception in an IOPub tap callback", exc_info=True)

    def flush(self) -> None:
        if self._stream is not None and not self._stream.closed():
            self._stream.flush()


def iopub_endpoint(kernel: t.Any) -> tuple:
    """Where a kernel's IOPub is: transport, address and port."""
    return (getattr(kernel, "transport", None), getattr(kernel, "ip", None), getattr(kernel, "iopub_port", None))


def _tcp_socket(connection: t.Any) -> t.Any:
    """The TCP socket under a kernel websocket connection, if it has one."""
    ws = getattr(getattr(connection, "websocket_handler", None), "ws_connection", None)
    sock = getattr(getattr(ws, "stream", None), "socket", None)
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return sock


def cork(connections: t.Iterable[t.Any]) -> list:
    """Hold back partial segments on these connections' sockets (Linux TCP_CORK)."""
    corked = []
    option = getattr(socket, "TCP_CORK", None)
    for connection in connections:
        sock = _tcp_socket(connection) if option is not None else None
        if sock is None:
            continue
        try:
            sock.setsockopt(socket.IPPROTO_TCP, option, 1)
        except OSError:
            continue
        corked.append(sock)
    return corked


def uncork(corked: list) -> None:
    """Send what the corked sockets hold, now (TCP_NODELAY stays as it was)."""
    for sock in corked:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)


class SharedIOPubConnection(ZMQChannelsWebsocketConnection):
    """The stock kernel websocket connection, its IOPub channel a tap of the kernel's hub."""

    def create_stream(self) -> None:
        hub = getattr(self.kernel_manager, HUB_ATTRIBUTE, None)
        if hub is None or not hub.serves(self.kernel_manager):
            super().create_stream()
            return
        identity = self.session.bsession
        self.channels["iopub"] = hub.tap(self)
        for channel in ("shell", "control", "stdin"):
            self.channels[channel] = stream = getattr(self.kernel_manager, "connect_" + channel)(identity=identity)
            stream.channel = channel


def patch_connection_class(settings: dict) -> bool:
    """Serve kernel websockets with shared IOPub, only where the stock class serves them.

    A gateway's connection class, or one the operator configured, is left alone.
    """
    if settings.get("kernel_websocket_connection_class") is not ZMQChannelsWebsocketConnection:
        return False
    settings["kernel_websocket_connection_class"] = SharedIOPubConnection
    return True
