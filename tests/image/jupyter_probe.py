"""Talk to a Jupyter Server the way its clients do: REST for kernels, the
kernel websocket for messages, and ZMQ directly for the latency floor.

Used by the image tests and by bench/image_latency.py. Only the controller
venv's libraries: requests-free (urllib), websocket-client, jupyter_client.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import websocket

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api(url: str, path: str, token: str = "", method: str = "GET", body: dict | None = None, timeout: float = 10):
    """Call the server's REST API; returns the decoded JSON (None for 204)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url.rstrip("/") + "/" + path.lstrip("/"), data=data, method=method)
    if token:
        request.add_header("Authorization", f"token {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def wait_for_api(url: str, timeout: float = 60, process: subprocess.Popen | None = None) -> dict:
    """Wait until GET {url}api answers (unauthenticated: it returns the version)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering on {url}")
        try:
            return api(url, "api", timeout=2)
        except (OSError, urllib.error.URLError) as exc:
            last_error = exc
            time.sleep(0.2)
    raise TimeoutError(f"no answer from {url}api within {timeout}s: {last_error}")


@dataclass
class LocalServer:
    """A real `jupyter server` process from the controller venv."""

    extensions: dict[str, bool] = field(default_factory=dict)
    extra_pythonpath: list[str] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    _tmp: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> LocalServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="jupyter-probe-")
        root = Path(self._tmp.name)
        (root / "work").mkdir()
        env = dict(os.environ)
        # Keep the user's own Jupyter config and runtime files out of the test.
        env.update(
            JUPYTER_CONFIG_DIR=str(root / "config"),
            JUPYTER_RUNTIME_DIR=str(root / "runtime"),
            JUPYTER_DATA_DIR=str(root / "data"),
            JUPYTER_PLATFORM_DIRS="1",
            IPYTHONDIR=str(root / "ipython"),
            # Keep __pycache__ out of source trees on the PYTHONPATH (the
            # extension's source in the role).
            PYTHONDONTWRITEBYTECODE="1",
            # Terminals run the shell the images set, not the caller's: with
            # no SHELL (as under CI) jupyter_server_terminals falls back to sh.
            SHELL="/bin/bash",
        )
        env.pop("JUPYTER_CONFIG_PATH", None)
        if self.extra_pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(self.extra_pythonpath + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        args = [
            str(VENV_BIN / "jupyter"),
            "server",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root / 'work'}",
        ]
        # traitlets' command-line form of a Dict trait: one key=value per flag
        args += [f"--ServerApp.jpserver_extensions={name}={enabled}" for name, enabled in self.extensions.items()]
        args += self.extra_args
        if os.geteuid() == 0:  # CI runs the suite as root; the images never do
            args.append("--allow-root")
        self._log = open(root / "server.log", "wb")  # noqa: SIM115 (closed in __exit__)
        self.process = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for_api(self.url, process=self.process)
        except Exception as exc:
            log = self.log()[-3000:]
            self.__exit__(None, None, None)
            raise RuntimeError(f"{exc}; server log:\n{log}") from exc
        return self

    def log(self) -> str:
        assert self._tmp is not None
        return (Path(self._tmp.name) / "server.log").read_text(errors="replace")

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def _message(msg_type: str, content: dict, session: str) -> dict:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "probe",
            "session": session,
            "date": "",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": "shell",
        "buffers": [],
    }


V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"


class _ServerSocket:
    """A resource created through the REST API (POST `collection`) and driven
    over its websocket; closing deletes it again."""

    def _open(self, url: str, token: str, collection: str, body: dict, ws_path, timeout: float, **options):
        self.url, self.token = url, token
        self.resource = api(url, collection, token, method="POST", body=body)
        self.resource_path = f"{collection}/{self.resource.get('id') or self.resource.get('name')}"
        ws_url = url.replace("http", "ws", 1).rstrip("/") + "/" + ws_path(self.resource)
        header = [f"Authorization: token {token}"] if token else []
        self.ws = websocket.create_connection(ws_url, header=header, timeout=timeout, **options)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        with contextlib.suppress(Exception):
            api(self.url, self.resource_path, self.token, method="DELETE")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class KernelSocket(_ServerSocket):
    """A kernel started through the REST API and driven over its websocket.

    protocol "legacy": JSON text frames, as clients without a subprotocol
    speak; "v1": the binary v1.kernel.websocket.jupyter.org protocol that
    JupyterLab (@jupyterlab/services) negotiates."""

    def __init__(self, url: str, token: str, kernel_name: str | None = None, timeout: float = 60,
                 protocol: str = "legacy"):
        self.timeout, self.protocol = timeout, protocol
        self.session = uuid.uuid4().hex
        self._open(url, token, "api/kernels", {"name": kernel_name} if kernel_name else {},
                   lambda kernel: f"api/kernels/{kernel['id']}/channels?session_id={self.session}", timeout,
                   subprotocols=[V1_PROTOCOL] if protocol == "v1" else None)
        self.kernel = self.resource
        if protocol == "v1" and self.ws.getsubprotocol() != V1_PROTOCOL:
            raise RuntimeError(f"server did not accept {V1_PROTOCOL}")
        self._wait_ready()

    def _send(self, msg: dict) -> None:
        if self.protocol == "v1":
            from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

            def pack(part):
                return json.dumps(part).encode()

            self.ws.send_binary(serialize_msg_to_ws_v1(msg, msg["channel"], pack))
        else:
            self.ws.send(json.dumps(msg))

    def _recv(self) -> dict:
        frame = self.ws.recv()
        if isinstance(frame, str):
            return json.loads(frame)
        from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1

        channel, parts = deserialize_msg_from_ws_v1(frame)
        header, parent_header, metadata, content = (json.loads(part) for part in parts[:4])
        return {"channel": channel, "header": header, "parent_header": parent_header, "metadata": metadata,
                "content": content, "msg_type": header.get("msg_type")}

    def _wait_ready(self) -> None:
        # The kernel may still be starting: kernel_info answers once it is up.
        request = _message("kernel_info_request", {}, self.session)
        self._send(request)
        self._collect(request["header"]["msg_id"], want_reply="kernel_info_reply")

    def _collect(self, msg_id: str, want_reply: str) -> tuple[dict, list[dict]]:
        """Read until the reply and the kernel's idle status for `msg_id`."""
        reply, idle, iopub = None, False, []
        deadline = time.monotonic() + self.timeout
        while reply is None or not idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {want_reply} within {self.timeout}s")
            msg = self._recv()
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == want_reply:
                reply = msg
            elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
            elif msg.get("channel") == "iopub":
                iopub.append(msg)
        return reply, iopub

    def execute(self, code: str) -> dict:
        """Run `code`; returns status, stdout, stderr, result (text/plain)."""
        request = _message("execute_request", {"code": code, "silent": False, "store_history": False,
                                               "user_expressions": {}, "allow_stdin": False,
                                               "stop_on_error": True}, self.session)
        self._send(request)
        reply, iopub = self._collect(request["header"]["msg_id"], want_reply="execute_reply")
        out = {"status": reply["content"]["status"], "stdout": "", "stderr": "", "result": None}
        for msg in iopub:
            if msg["msg_type"] == "stream":
                out[msg["content"]["name"]] += msg["content"]["text"]
            elif msg["msg_type"] == "execute_result":
                out["result"] = msg["content"]["data"].get("text/plain")
            elif msg["msg_type"] == "error":
                out["stderr"] += "\n".join(msg["content"].get("traceback", []))
        return out

    def roundtrips(self, count: int, code: str = "1+1") -> list[float]:
        """Seconds from sending each execute_request to receiving its
        execute_reply (idle status drained before the next request)."""
        times = []
        for dummy in range(count):
            request = _message("execute_request", {"code": code, "silent": False, "store_history": False,
                                                   "user_expressions": {}, "allow_stdin": False,
                                                   "stop_on_error": True}, self.session)
            msg_id = request["header"]["msg_id"]
            start = time.perf_counter()
            self._send(request)
            elapsed, idle = None, False
            while elapsed is None or not idle:
                msg = self._recv()
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "execute_reply":
                    elapsed = time.perf_counter() - start
                elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                    idle = True
            times.append(elapsed)
        return times


class TerminalSocket(_ServerSocket):
    """A terminal started through the REST API (jupyter_server_terminals),
    driven over its websocket like xterm.js does."""

    def __init__(self, url: str, token: str, timeout: float = 30):
        self._open(url, token, "api/terminals", {}, lambda terminal: f"terminals/websocket/{terminal['name']}",
                   timeout)
        self.terminal = self.resource
        self.run("true")  # the shell is up once a command's output comes back

    def run(self, command: str) -> str:
        """Type `command`, return the terminal output up to a marker printed after it."""
        marker = uuid.uuid4().hex[:12]
        # The marker is split on the command line, so only its output matches.
        self.ws.send(json.dumps(["stdin", f"{command}; printf '%s%s\\n' {marker[:6]} {marker[6:]}\r"]))
        output = ""
        while marker + "\r\n" not in output:
            msg = json.loads(self.ws.recv())
            if msg[0] == "stdout":
                output += msg[1]
        return output

    def roundtrips(self, count: int) -> list[float]:
        """Seconds from typing a command to seeing the last of its output,
        which comes in two bursts 5 ms apart, as from any command that prints
        while it works. Without the pause a fast shell can answer in a single
        frame, and one frame never meets Nagle's delay."""
        times = []
        for dummy in range(count):
            start = time.perf_counter()
            self.run("echo a; sleep 0.005")
            times.append(time.perf_counter() - start)
        return times


def zmq_roundtrips(count: int, code: str = "1+1", kernel_name: str = "python3") -> list[float]:
    """The floor: the same request straight to a kernel over ZMQ (jupyter_client)."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name=kernel_name)
    try:
        times = []
        for dummy in range(count):
            start = time.perf_counter()
            msg_id = client.execute(code, store_history=False)
            while True:
                reply = client.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            times.append(time.perf_counter() - start)
            # Drain iopub up to idle so each request starts from a quiet kernel.
            while True:
                msg = client.get_iopub_msg(timeout=30)
                if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"):
                    break
        return times
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def p50(samples: list[float], warmup: int = 5) -> float:
    """Median after dropping the first `warmup` samples (imports, JIT of the kernel)."""
    return statistics.median(samples[warmup:] if len(samples) > warmup * 2 else samples)
