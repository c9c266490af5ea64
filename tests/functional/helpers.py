# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers of the functional tests: real processes, no stand-ins."""

from __future__ import annotations

import ast
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".collections"
VENV_BIN = Path(sys.executable).parent
NODE_DIR = Path(__file__).resolve().parent / "node"
PROBE_DIR = Path(__file__).resolve().parent / "probe"

# The collection's Python (ansible_collections.remotedev.jupyter) and
# tests.support, imported by the test modules.
for _path in (COLLECTIONS, REPO):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jupyter_env(config_dir, secret_dir=None, home=None):
    """Environment for a jupyter process that reads only our config files.

    JUPYTER_CONFIG_DIR plays /etc/jupyter (the ConfigMap), JUPYTER_CONFIG_PATH
    the Secret mount, as in the deployed pods.
    """
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_RUNTIME_DIR": str(Path(config_dir) / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONPATH": os.pathsep.join([str(PROBE_DIR), str(COLLECTIONS)]),
    })
    env.pop("JUPYTER_CONFIG_PATH", None)
    if secret_dir is not None:
        env["JUPYTER_CONFIG_PATH"] = str(secret_dir)
    if home is not None:
        env["HOME"] = str(home)
    return env


# ---------------------------------------------------------------- typed values


def decode(typed):
    """Inverse of remotedev_config_probe.encode."""
    kind, value = typed["t"], typed["v"]
    if kind in ("NoneType", "bool", "str"):
        return value
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bytes":
        return base64.b64decode(value)
    if kind == "list":
        return [decode(v) for v in value]
    if kind == "tuple":
        return tuple(decode(v) for v in value)
    if kind == "set":
        return set(decode(v) for v in value)
    if kind == "dict":
        return {decode(k): decode(v) for k, v in value}
    raise AssertionError("probe could not encode a value: %s" % value)


def from_show_config_json(expected, shown):
    """A value as `jupyter server --show-config-json` printed it, read back
    in the type of the expected value (the command prints sets and bytes
    with repr() and tuples as lists)."""
    if isinstance(expected, (set, bytes)) and isinstance(shown, str):
        return ast.literal_eval(shown)
    if isinstance(expected, tuple) and isinstance(shown, list):
        return tuple(from_show_config_json(e, s) for e, s in zip(expected, shown)) if len(expected) == len(shown) \
            else tuple(shown)
    if isinstance(expected, list) and isinstance(shown, list) and len(expected) == len(shown):
        return [from_show_config_json(e, s) for e, s in zip(expected, shown)]
    if isinstance(expected, dict) and isinstance(shown, dict):
        return {k: from_show_config_json(expected[k], v) if k in expected else v for k, v in shown.items()}
    return shown


# ---------------------------------------------------------------- jupyter


def show_config_json(config_dir, secret_dir=None):
    """Run the real `jupyter server --show-config-json` on our config files."""
    result = subprocess.run(
        [str(VENV_BIN / "jupyter"), "server", "--show-config-json"],
        env=jupyter_env(config_dir, secret_dir), capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


class LiveServer:
    """A `jupyter server` process started on a free port with our config."""

    def __init__(self, workdir, port, token, password, ca_file=None):
        self.ca_file = ca_file
        self.workdir = Path(workdir)
        self.port = port
        self.token = token
        self.password = password
        self.base_url = None
        self.process = None
        self.log_path = self.workdir / "server.log"

    @property
    def url(self):
        scheme = "https" if self.ca_file else "http"
        return "%s://127.0.0.1:%d%s" % (scheme, self.port, self.base_url)

    def _urlopen(self, request, timeout):
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        return urllib.request.urlopen(request, timeout=timeout, context=context)

    def start(self, config_dir, secret_dir, base_url):
        self.base_url = base_url
        args = [str(VENV_BIN / "jupyter"), "server", "--ServerApp.port_retries=0"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # CI and this VM run tests as root; the rendered config keeps allow_root off.
            args.append("--allow-root")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                args, env=jupyter_env(config_dir, secret_dir, home=self.workdir), stdout=log,
                stderr=subprocess.STDOUT, cwd=str(self.workdir), start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("jupyter server exited with %s:\n%s" % (self.process.returncode, self.log()))
            try:
                with self._urlopen(self.url + "api", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        self.stop()
        raise AssertionError("jupyter server did not answer within 90 s:\n%s" % self.log())

    def get_json(self, path):
        request = urllib.request.Request(self.url + path, headers={"Authorization": "token %s" % self.token})
        with self._urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode("ascii"))

    def log(self):
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


# ---------------------------------------------------------------- ansible

# ansible-playbook on the controller itself (tests.support.playbook runs it).
LOCAL = ("-i", "localhost,", "-c", "local")


def node_verifier_ready():
    return (NODE_DIR / "node_modules" / "argon2" / "package.json").exists() and shutil.which("node") is not None
