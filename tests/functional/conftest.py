# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the module functional tests: a live jupyter_server configured
with files rendered by server_config and a password hashed by password_hash."""

from __future__ import annotations

import secrets
import subprocess

import pytest

from helpers import LiveServer, free_port  # pylint: disable=import-error

from ansible_collections.remotedev.jupyter.plugins.module_utils._password import make_hash
from ansible_collections.remotedev.jupyter.plugins.module_utils._server_config import prepare_settings, render

# Strings that would break naive templating; the live server must load them verbatim.
TRICKY_TEXT = "it's \"quoted\" '''triple''' \"\"\" back\\slash \\n new\nline \x00 nul \u00fcn\u00efc\u00f8d\u00e9"
# With a lone surrogate too (not in settings the server logs: a log line could not encode it).
TRICKY_TEXT_SURROGATE = TRICKY_TEXT + " \ud83d"
LIVE_PASSWORD = "correct horse \u00e9 battery 'staple'"


def live_settings(port, root_dir):
    """Settings of the live server: at least one trait of every value type."""
    return {
        "ServerApp": {
            "ip": "127.0.0.1",                                   # str
            "port": port,                                        # int
            "open_browser": False,                               # bool
            "base_url": "/remotedev/",
            "root_dir": str(root_dir),
            "jpserver_extensions": {"remotedev_config_probe": True},   # dict of bool
            "tornado_settings": {"remotedev_probe": {"nested": [1, 2.5, None, True, "x"], "empty": {}}},  # nested dict
            "websocket_compression_options": None,               # None
            "custom_display_url": TRICKY_TEXT,                   # str with everything
            "cookie_secret": "remotedev-test-cookie-secret",    # bytes trait
            "max_body_size": 536870912,
        },
        "IdentityProvider": {"token": secrets.token_hex(24)},
        "MappingKernelManager": {
            "cull_idle_timeout": 3600,
            "cull_interval": 300,
            "cull_connected": False,
            "kernel_info_timeout": 45.5,                         # float
        },
        "KernelSpecManager": {"allowed_kernelspecs": ["python3"]},   # set
        "ContentsManager": {"hide_globs": ["__pycache__", "*.pyc", TRICKY_TEXT_SURROGATE]},  # list
        "FileContentsManager": {"untitled_notebook": TRICKY_TEXT_SURROGATE},
    }


def start_live_server(tmp_path_factory, name, tls=False):
    """A real `jupyter server`, configured like the deployed one:
    jupyter_server_config.py (rendered by server_config) in the config dir,
    the password hash (password_hash, rendered as JSON) in a separate
    JUPYTER_CONFIG_PATH directory, as the Secret mount of the pods."""
    workdir = tmp_path_factory.mktemp(name)
    config_dir = workdir / "etc-jupyter"
    secret_dir = workdir / "secret"
    root_dir = workdir / "work"
    for directory in (config_dir, secret_dir, root_dir):
        directory.mkdir()

    port = free_port()
    settings = live_settings(port, root_dir)
    if tls:
        cert, key = workdir / "server.crt", workdir / "server.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        settings["ServerApp"].update({"certfile": str(cert), "keyfile": str(key)})
    normalized, _migrated, _notes = prepare_settings(settings)
    (config_dir / "jupyter_server_config.py").write_text(render(normalized, "py"), encoding="utf-8")

    password_settings, _m, _n = prepare_settings(
        {"PasswordIdentityProvider": {"hashed_password": make_hash(LIVE_PASSWORD, "jupyter", "argon2")}})
    (secret_dir / "jupyter_server_config.json").write_text(render(password_settings, "json"), encoding="utf-8")

    server = LiveServer(workdir, port, settings["IdentityProvider"]["token"], LIVE_PASSWORD,
                        ca_file=str(workdir / "server.crt") if tls else None)
    server.settings = settings
    server.normalized = normalized
    server.start(config_dir, secret_dir, settings["ServerApp"]["base_url"])
    return server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    server = start_live_server(tmp_path_factory, "live-server")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_tls_server(tmp_path_factory):
    """The same server behind HTTPS with a self-signed certificate."""
    server = start_live_server(tmp_path_factory, "live-tls-server", tls=True)
    yield server
    server.stop()
