"""Jupyter Server extension: the interactive path without needless delay or CPU.

Every kernel reply reaches the client as several small websocket frames. With
Nagle's algorithm on, the frames after the first are held back until the
client's delayed ACK arrives, which adds tens of milliseconds to each
round-trip. Setting TCP_NODELAY when a websocket opens sends each frame at once.

The kernel manager's activity tracking decodes every IOPub message in full;
`activity` gives it a callback that reads only the headers (see there), and
`iopub` lets the kernel's websockets share that one IOPub subscription instead
of each receiving every message again.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import typing as t

__version__ = "1.3.0"

#: Websocket handlers carrying interactive traffic, as "module:Class". Missing
#: modules (jupyter_server_terminals is optional) are skipped. Kernels behind a
#: gateway use the same kernel handler (with a gateway connection class).
HANDLERS = (
    "jupyter_server.services.kernels.websocket:KernelWebsocketHandler",
    "jupyter_server_terminals.handlers:TermSocket",
)

_MARK = "_remotedev_nodelay"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "remotedev_nodelay"}]


def _nodelay_open(original: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    """Wrap a handler's open() so the connection sets TCP_NODELAY first."""
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def open_async(self: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
            self.set_nodelay(True)
            return await original(self, *args, **kwargs)

        wrapper: t.Callable[..., t.Any] = open_async
    else:

        @functools.wraps(original)
        def open_sync(self: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
            self.set_nodelay(True)
            return original(self, *args, **kwargs)

        wrapper = open_sync
    setattr(wrapper, _MARK, True)
    return wrapper


def patch_handler(cls: type) -> bool:
    """Make websocket handler class `cls` set TCP_NODELAY on open.

    Returns False when the class was already patched (loading twice is harmless).
    """
    if getattr(cls.open, _MARK, False):
        return False
    cls.open = _nodelay_open(cls.open)  # type: ignore[attr-defined]
    return True


def resolve_handlers(specs: t.Iterable[str] = HANDLERS) -> list[type]:
    """Import the handler classes named in `specs`, skipping absent modules."""
    classes = []
    for spec in specs:
        module_name, dummy, class_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, class_name, None)
        if cls is not None:
            classes.append(cls)
    return classes


def _load_jupyter_server_extension(serverapp: t.Any) -> None:
    from remotedev_nodelay.activity import patch_kernel_manager
    from remotedev_nodelay.iopub import patch_connection_class

    classes = resolve_handlers()
    for cls in classes:
        patch_handler(cls)
    serverapp.log.info(
        "remotedev_nodelay %s: TCP_NODELAY on websockets of %s",
        __version__,
        ", ".join(f"{cls.__module__}.{cls.__qualname__}" for cls in classes),
    )
    if patch_kernel_manager(serverapp.kernel_manager):
        serverapp.log.info("remotedev_nodelay %s: kernel activity read from message headers only", __version__)
        # Only a patched watcher feeds the hub the websockets' taps read from.
        if patch_connection_class(serverapp.web_app.settings):
            serverapp.log.info("remotedev_nodelay %s: one IOPub subscription per kernel, shared by its websockets",
                               __version__)
