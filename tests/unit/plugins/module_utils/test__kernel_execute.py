# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _kernel_execute: option checks, kernel choice, check mode, failures.

The run against a real server (websocket, kernel shutdown, TLS) is in
tests/functional/test_modules_ansible.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _kernel_execute as ke
from ansible_collections.remotedev.jupyter.plugins.module_utils._server_info import ServerInfoError

SPECS = {"python3": {"language": "python"}, "datascience": {"language": "python"}}
URL = "http://127.0.0.1:8888/"


class RecordingClient:
    """Answers like JupyterServerClient and records what would touch the server."""

    shown_url = URL

    def __init__(self, password=None, summary=None, fail_shutdown=False):
        self.password = password
        self.calls = []
        self.summary = summary or {"status": "ok", "stdout": "", "stderr": "", "result": "42", "data": {},
                                   "execution_count": 1, "ename": None, "evalue": None, "traceback": []}
        self.fail_shutdown = fail_shutdown

    def login(self):
        self.calls.append("login")

    def version(self):
        self.calls.append("version")
        return "2.21.1"

    def kernelspecs(self):
        self.calls.append("kernelspecs")
        return "python3", SPECS

    def start_kernel(self, name):
        self.calls.append("start " + name)
        return {"id": "k-1"}

    def run_code(self, kernel_id, code, timeout):
        self.calls.append("run %s %r %s" % (kernel_id, code, timeout))
        if self.summary == "timeout":
            raise ServerInfoError("the code did not finish within %s seconds (code_timeout)" % timeout)
        return dict(self.summary)

    def shutdown_kernel(self, kernel_id):
        self.calls.append("shutdown " + kernel_id)
        if self.fail_shutdown:
            raise ServerInfoError("DELETE refused")


PARAMS = {"code": "6 * 7", "kernel": None, "timeout": 30, "code_timeout": 60}


@pytest.mark.parametrize("option,value", [
    ("timeout", 0), ("timeout", -1), ("code_timeout", 0), ("code_timeout", None),
], ids=["timeout-zero", "timeout-negative", "code-timeout-zero", "code-timeout-none"])
def test_check_params_names_the_option(option, value):
    with pytest.raises(ServerInfoError, match="^%s must be a positive number of seconds" % option):
        ke.check_params(dict(PARAMS, **{option: value}))


def test_check_params_accepts_positive_timeouts():
    ke.check_params(PARAMS)


@pytest.mark.parametrize("name,default,expected", [
    (None, "python3", "python3"), ("", "python3", "python3"), ("datascience", "python3", "datascience"),
], ids=["default", "empty-means-default", "named"])
def test_resolve_kernel(name, default, expected):
    assert ke.resolve_kernel(name, default, SPECS, URL) == expected


@pytest.mark.parametrize("name,default,message", [
    ("julia-1.9", "python3", "kernel: unknown kernel 'julia-1.9' at %s (available: datascience, python3)" % URL),
    (None, None, "kernel: the server at %s has no default kernel; name one (available: datascience, python3)" % URL),
], ids=["unknown", "no-default"])
def test_resolve_kernel_refuses(name, default, message):
    with pytest.raises(ServerInfoError) as info:
        ke.resolve_kernel(name, default, SPECS, URL)
    assert str(info.value) == message


def test_check_mode_starts_no_kernel_and_reports_the_change():
    client = RecordingClient(password="pw")
    result = ke.execute(client, dict(PARAMS, kernel="datascience"), check_mode=True)
    assert client.calls == ["login", "version", "kernelspecs"]
    assert result["changed"] is True and result["kernel"] == "datascience"
    assert "not run" in result["msg"]
    assert all(result[key] is None for key in ke.EXECUTION_KEYS)
    assert ke.failure_message(result, fail_on_error=True) is None


def test_check_mode_still_refuses_an_unknown_kernel():
    client = RecordingClient()
    with pytest.raises(ServerInfoError, match="unknown kernel 'julia'"):
        ke.execute(client, dict(PARAMS, kernel="julia"), check_mode=True)
    assert client.calls == ["version", "kernelspecs"]


def test_run_starts_runs_and_shuts_down():
    client = RecordingClient()
    result = ke.execute(client, PARAMS)
    assert client.calls == ["version", "kernelspecs", "start python3", "run k-1 '6 * 7' 60", "shutdown k-1"]
    assert result["changed"] is True and result["result"] == "42" and result["kernel_id"] == "k-1"
    assert result["shutdown_error"] is None and result["msg"] == "ran in a new python3 kernel: ok"


def test_kernel_is_shut_down_when_the_code_times_out():
    client = RecordingClient(summary="timeout")
    with pytest.raises(ServerInfoError, match="code_timeout"):
        ke.execute(client, dict(PARAMS, code_timeout=3))
    assert client.calls[-1] == "shutdown k-1"


def test_failed_shutdown_is_reported_not_raised():
    result = ke.execute(RecordingClient(fail_shutdown=True), PARAMS)
    assert result["shutdown_error"] == "DELETE refused" and result["status"] == "ok"


@pytest.mark.parametrize("status,ename,fail_on_error,expected", [
    ("ok", None, True, None),
    ("error", "ZeroDivisionError", True, "the code failed in kernel python3: ZeroDivisionError: division by zero"),
    ("error", "ZeroDivisionError", False, None),
    ("aborted", None, True, "the code did not complete in kernel python3 (status aborted)"),
], ids=["ok", "error", "error-not-fatal", "aborted"])
def test_failure_message(status, ename, fail_on_error, expected):
    result = {"status": status, "ename": ename, "evalue": "division by zero" if ename else None, "kernel": "python3"}
    assert ke.failure_message(result, fail_on_error) == expected
