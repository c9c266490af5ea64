"""Kernel activity tracking that reads only what it needs from each message.

jupyter_server subscribes to every kernel's IOPub channel to keep a kernel's
``last_activity`` and ``execution_state`` (what ``/api/kernels`` reports and
idle culling decides on). Its callback fully deserializes each message: it
checks and records the signature, parses the header, parent header and
metadata, turns every date in them into a datetime with dateutil, and parses a
status message a second time for its content. Measured under 20 busy clients,
that callback was a fifth of the server's CPU time; the websocket relay of the
same messages (v1 protocol) does not decode them at all.

This callback keeps the stock semantics (same tracked message types, same
state transitions, signature still verified) but parses only the two headers,
and a status message's content, with the session's own unpacker.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import typing as t

from jupyter_client.session import DELIM

from remotedev_nodelay.iopub import IOPubHub, iopub_endpoint

_MARK = "_remotedev_activity"
_FOLLOWS_RESTARTS = "_remotedev_follows_restarts"


def emits(log: t.Any, level: int) -> bool:
    """Whether a record of `level` on `log` reaches a handler that keeps it."""
    if not isinstance(log, logging.Logger):
        return True
    if not log.isEnabledFor(level):
        return False
    logger: logging.Logger | None = log
    handled = False
    while logger is not None:
        for handler in logger.handlers:
            handled = True
            if level >= handler.level:
                return True
        logger = logger.parent if logger.propagate else None
    return not handled and logging.lastResort is not None and level >= logging.lastResort.level


def activity_recorder(manager: t.Any, kernel: t.Any, kernel_id: str, session: t.Any) -> t.Callable[[list], None]:
    """The IOPub callback of one kernel: updates `kernel` and `manager` in place.

    `manager` is the MappingKernelManager (its `track_message_type`, `log` and
    `last_kernel_activity`), `session` a Session with the kernel's key.
    """
    from jupyter_server._tz import utcnow

    log = manager.log
    # traitlets' loggers pass DEBUG records to handlers that drop them: making
    # the record per message was 3% of the server's CPU under load.
    debug = emits(log, logging.DEBUG)

    def record_activity(msg_list: list) -> None:
        frames = msg_list[msg_list.index(DELIM) + 1:]
        if len(frames) < 5:
            raise TypeError("malformed message, must have at least 5 elements")
        if session.auth is not None and not hmac.compare_digest(frames[0], session.sign(frames[1:5])):
            raise ValueError("Invalid Signature: %r" % frames[0])
        msg_type = session.unpack(frames[1]).get("msg_type")
        parent_msg_type = (session.unpack(frames[2]) or {}).get("msg_type")
        if (
            manager.track_message_type(msg_type)
            or manager.track_message_type(parent_msg_type)
            or kernel.execution_state == "busy"
        ):
            manager.last_kernel_activity = kernel.last_activity = utcnow()
        if msg_type == "status":
            execution_state = session.unpack(frames[4])["execution_state"]
            if manager.track_message_type(parent_msg_type):
                kernel.execution_state = execution_state
            elif kernel.execution_state == "starting" and execution_state != "starting":
                # As upstream: after starting, a status answering an untracked
                # message (kernel_info, comm_info...) still means idle.
                kernel.execution_state = "idle"
        if debug:
            log.debug("activity on %s: %s (%s)", kernel_id, msg_type, kernel.execution_state)

    return record_activity


def start_watching_activity(self: t.Any, kernel_id: str) -> None:
    """MappingKernelManager.start_watching_activity with the lean callback."""
    from jupyter_client.session import Session
    from jupyter_server._tz import utcnow

    self.log.debug("Watching kernel activity: %s", kernel_id)
    kernel = self._kernels[kernel_id]
    kernel.reason = ""
    kernel.last_activity = utcnow()
    kernel._activity_stream = kernel.connect_iopub()
    session = Session(config=kernel.session.config, key=kernel.session.key)
    # The kernel's websockets read IOPub from this subscription (iopub.py);
    # the hub outlives a restart that moves the kernel's ports.
    IOPubHub.of(kernel).attach(kernel._activity_stream, activity_recorder(self, kernel, kernel_id, session), self.log,
                               iopub_endpoint(kernel))
    follow_restarts(self, kernel_id, kernel)


setattr(start_watching_activity, _MARK, True)


def follow_restarts(manager: t.Any, kernel_id: str, kernel: t.Any) -> bool:
    """Watch a kernel again after any restart that moved it.

    jupyter_server subscribes its watcher again only after a restart through
    its API. After an automatic one (a kernel in its own pod that died, was
    OOM-killed or lost its pod comes back at a new address) the stock watcher
    keeps listening to the dead address: the kernel's ``last_activity`` and
    ``execution_state`` stop, and one that died busy stays busy, out of the
    idle culler's reach. Wraps the kernel's restart_kernel once; returns
    whether it did.
    """
    restart = getattr(kernel, "restart_kernel", None)
    if getattr(kernel, _FOLLOWS_RESTARTS, False) or not inspect.iscoroutinefunction(restart):
        return False

    async def restart_kernel(*args: t.Any, **kwargs: t.Any) -> t.Any:
        result = await restart(*args, **kwargs)
        watch_again_if_moved(manager, kernel_id, kernel)
        return result

    kernel.restart_kernel = restart_kernel
    setattr(kernel, _FOLLOWS_RESTARTS, True)
    return True


def watch_again_if_moved(manager: t.Any, kernel_id: str, kernel: t.Any) -> bool:
    """Subscribe the watcher to where the kernel is now, if it still listens to where it was.

    The kernel is new: "starting" until it says otherwise, as after
    jupyter_server's start_kernel. A stopped watcher (a kernel shutting down)
    is left alone. After a restart through the API jupyter_server subscribes
    again itself if the kernel's ports changed (not if only its address did):
    one subscription too many for a moment, nothing lost.
    """
    stream = getattr(kernel, "_activity_stream", None)
    if stream is None or kernel_id not in manager or IOPubHub.of(kernel).serves(kernel):
        return False
    manager.log.info("Kernel %s restarted at a new address: watching its activity there", kernel_id)
    manager.stop_watching_activity(kernel_id)
    kernel.execution_state = "starting"
    manager.start_watching_activity(kernel_id)
    return True


def patch_kernel_manager(manager: t.Any) -> bool:
    """Give `manager` (a server's kernel manager) the lean activity callback.

    Only a manager that watches IOPub the stock way is patched: a gateway's
    kernel manager, or one whose class brings its own watcher, is left alone.
    Returns whether it was patched.
    """
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

    if not isinstance(manager, MappingKernelManager) or not hasattr(manager, "track_message_type"):
        return False
    own = getattr(type(manager).start_watching_activity, "__func__", type(manager).start_watching_activity)
    if own is not MappingKernelManager.start_watching_activity or getattr(manager.start_watching_activity, _MARK, False):
        return False
    manager.start_watching_activity = start_watching_activity.__get__(manager)
    return True
