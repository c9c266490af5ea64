# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _server_info's pure parts: URLs, messages, result collection.

The client itself is tested against a live jupyter_server in tests/functional.
"""

from __future__ import annotations

import json
import socket

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _server_info as si


@pytest.mark.parametrize("url,expected", [
    ("http://127.0.0.1:8888", "http://127.0.0.1:8888/"),
    ("http://127.0.0.1:8888/", "http://127.0.0.1:8888/"),
    ("https://jupyter.example.internal/jupyter", "https://jupyter.example.internal/jupyter/"),
    ("  http://h/base/#frag ", "http://h/base/"),
    ("http://[::1]:8888/x/", "http://[::1]:8888/x/"),
])
def test_normalize_url(url, expected):
    assert si.normalize_url(url) == expected


@pytest.mark.parametrize("url,message", [
    ("", "url: give the server's base URL"),
    ("ftp://h/", "is not an http:// or https:// URL"),
    ("127.0.0.1:8888", "is not an http:// or https:// URL"),
    ("http://user:pw@h/", "do not put credentials in the URL"),
    ("http://h/?token=abc", "do not put the token in the URL"),
])
def test_normalize_url_rejects(url, message):
    with pytest.raises(si.ServerInfoError, match=message) as info:
        si.normalize_url(url)
    assert "user:pw" not in str(info.value)
    assert "token=abc" not in str(info.value)


def test_redact_drops_credentials_and_query():
    assert si.redact("https://u:secret@h:8443/b/?token=t#x") == "https://h:8443/b/"
    assert si.redact("http://[::1]:1/") == "http://[::1]:1/"


def test_endpoint_and_websocket_url():
    assert si.endpoint("http://h/base/", "/api/kernels") == "http://h/base/api/kernels"
    assert si.websocket_url("http://h:1/b/api/kernels/k/channels?session_id=s") == \
        "ws://h:1/b/api/kernels/k/channels?session_id=s"
    assert si.websocket_url("https://h/b/x").startswith("wss://h/b/x")


def test_summarize_kernelspecs():
    payload = {
        "default": "python3",
        "kernelspecs": {
            "python3": {"name": "python3", "spec": {"argv": ["python"], "display_name": "Python 3", "language": "python"},
                        "resources": {"logo-64x64": "/kernelspecs/python3/logo-64x64.png"}},
        },
    }
    default, specs = si.summarize_kernelspecs(payload)
    assert default == "python3"
    assert specs == {"python3": {"argv": ["python"], "display_name": "Python 3", "language": "python",
                                 "resources": {"logo-64x64": "/kernelspecs/python3/logo-64x64.png"}}}
    with pytest.raises(si.ServerInfoError, match="unexpected answer"):
        si.summarize_kernelspecs({"message": "nope"})


def test_execute_request_follows_protocol_5_3():
    message = si.execute_request("6*7", "session-1")
    header = message["header"]
    assert header["msg_type"] == "execute_request"
    assert header["version"] == "5.3"
    assert header["session"] == "session-1"
    assert len(header["msg_id"]) == 32
    assert message["channel"] == "shell"
    assert message["content"]["code"] == "6*7"
    assert message["content"]["allow_stdin"] is False
    json.dumps(message)  # a JSON text frame
    assert si.execute_request("x", "s")["header"]["msg_id"] != header["msg_id"]


def _reply(parent, msg_type, content, channel="iopub"):
    return {"header": {"msg_type": msg_type, "msg_id": "r-" + msg_type}, "parent_header": {"msg_id": parent},
            "content": content, "channel": channel, "msg_type": msg_type}


def test_collector_gathers_output_for_its_request_only():
    collector = si.ExecutionCollector("me")
    sequence = [
        _reply("other", "stream", {"name": "stdout", "text": "not mine\n"}),
        _reply("me", "status", {"execution_state": "busy"}),
        _reply("me", "execute_input", {"code": "6*7"}),
        _reply("me", "stream", {"name": "stdout", "text": "hello "}),
        _reply("me", "stream", {"name": "stdout", "text": "world\n"}),
        _reply("me", "stream", {"name": "stderr", "text": "warn\n"}),
        _reply("me", "execute_result", {"data": {"text/plain": "42"}, "execution_count": 3}),
        _reply("other", "status", {"execution_state": "idle"}),
    ]
    for message in sequence:
        collector.feed(message)
        assert not collector.done
    collector.feed(_reply("me", "status", {"execution_state": "idle"}))
    assert not collector.done  # the execute_reply is still missing
    collector.feed(_reply("me", "execute_reply", {"status": "ok", "execution_count": 3}, channel="shell"))
    assert collector.done
    assert collector.summary() == {
        "status": "ok", "stdout": "hello world\n", "stderr": "warn\n", "result": "42",
        "data": {"text/plain": "42"}, "execution_count": 3, "ename": None, "evalue": None, "traceback": [],
    }


def test_collector_reports_errors_without_colour_codes():
    collector = si.ExecutionCollector("me")
    collector.feed(_reply("me", "error", {"ename": "ZeroDivisionError", "evalue": "division by zero",
                                          "traceback": ["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"]}))
    collector.feed(_reply("me", "execute_reply", {"status": "error", "ename": "ZeroDivisionError",
                                                  "evalue": "division by zero", "traceback": []}, channel="shell"))
    collector.feed(_reply("me", "status", {"execution_state": "idle"}))
    summary = collector.summary()
    assert summary["status"] == "error"
    assert summary["ename"] == "ZeroDivisionError"
    assert summary["traceback"] == ["ZeroDivisionError: division by zero"]


def test_collector_ignores_junk():
    collector = si.ExecutionCollector("me")
    for junk in (None, "text", {}, {"parent_header": None}, {"parent_header": {"msg_id": "me"}}):
        collector.feed(junk)
    assert not collector.done


def test_api_message():
    assert si._api_message(b'{"message": "No such kernel"}') == ": No such kernel"
    assert si._api_message(b"<html>") == ""
    assert si._api_message(b'{"message": "' + b"x" * 400 + b'"}').endswith("...")


def test_auth_headers_and_websocket_options_carry_credentials_only_in_headers(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until a connection is made\n")
    client = si.JupyterServerClient("https://h/base", token="tok", validate_certs=False, ca_path=str(ca), timeout=5)
    assert client.auth_headers("GET") == {"Authorization": "token tok"}
    options = client.websocket_options()
    assert "Authorization: token tok" in options["header"]
    assert options["sslopt"]["check_hostname"] is False
    assert options["sslopt"]["ca_certs"] == str(ca)
    assert options["timeout"] == 5
    assert client.shown_url == "https://h/base/"
    plain = si.JupyterServerClient("http://h/", password="pw")
    assert plain.auth_headers("POST") == {}
    assert "sslopt" not in plain.websocket_options()


def _closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_is_a_clear_error_without_the_token():
    port = _closed_port()
    client = si.JupyterServerClient("http://127.0.0.1:%d/base/" % port, token="super-secret-token", timeout=5)
    with pytest.raises(si.ServerInfoError) as info:
        si.probe(client)
    message = str(info.value)
    assert message.startswith("cannot reach Jupyter Server at http://127.0.0.1:%d/base/ (GET api): " % port)
    assert "super-secret-token" not in message


def test_unreachable_server_with_password_login():
    port = _closed_port()
    client = si.JupyterServerClient("http://127.0.0.1:%d/" % port, password="pw-secret", timeout=5)
    with pytest.raises(si.ServerInfoError, match="cannot reach Jupyter Server at .* \\(GET login\\)") as info:
        si.probe(client)
    assert "pw-secret" not in str(info.value)


@pytest.mark.parametrize("url,fragment", [
    ("http://[::1/", "url: not a valid URL (Invalid IPv6 URL)"),
    ("http://h:99999/", "url: not a valid URL (Port out of range"),
    ("http://h:port/", "url: not a valid URL"),
], ids=["ipv6-unclosed", "port-range", "port-word"])
def test_unparsable_url_fails_cleanly(url, fragment):
    with pytest.raises(si.ServerInfoError) as info:
        si.normalize_url(url)
    assert fragment in str(info.value)


def test_missing_ca_path_and_non_string_credentials_named(tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(si.ServerInfoError, match="ca_path: %s is not a file" % missing):
        si.JupyterServerClient("https://h/", ca_path=str(missing))
    with pytest.raises(si.ServerInfoError, match="password must be a string, not a mapping"):
        si.JupyterServerClient("http://h/", password={"a": 1})
    with pytest.raises(si.ServerInfoError, match="token must be a string, not a list"):
        si.JupyterServerClient("http://h/", token=["t"])
