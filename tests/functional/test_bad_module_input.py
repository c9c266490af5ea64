# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad module input, as a table: each case is one task of ONE generated
playbook (ignore_errors), run as users run it. Each must fail with a message
naming the option and what is wrong, and write or send nothing: every
server_config case has a dest that must not exist afterwards, and every
server_info case points at a listening socket that must see no connection."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import yaml

from helpers import LOCAL  # pylint: disable=import-error

from tests.support.playbook import run_playbook

ABSURD_ARGON2 = "$argon2id$v=19$m=4194304,t=1000,p=8$c2FsdHNhbHQ$aGFzaGhhc2g"
SERVER = "http://127.0.0.1:{port}/"  # the listening socket of the server_info and kernel_execute cases


@dataclass(frozen=True)
class Case:
    id: str
    module: str
    args: dict
    message: str


def SC(id_, message, settings, **args):  # noqa: N802 - reads as a table row
    return Case(id_, "server_config", dict(args, settings=settings), message)


def PH(id_, message, **args):  # noqa: N802
    return Case(id_, "password_hash", args, message)


def SI(id_, message, **args):  # noqa: N802
    args.setdefault("url", SERVER)
    return Case(id_, "server_info", args, message)


def KE(id_, message, **args):  # noqa: N802
    args.setdefault("url", SERVER)
    args.setdefault("code", "1")
    if args["code"] is None:
        del args["code"]
    return Case(id_, "kernel_execute", args, message)


CASES = [
    SC("sc-port-range", "settings.ServerApp.port: expected an integer from 0 to 65535, got integer 70000", {"ServerApp": {"port": 70000}}),
    SC("sc-port-negative", "settings.ServerApp.port: expected an integer from 0 to 65535, got integer -1", {"ServerApp": {"port": -1}}),
    SC("sc-kernel-port", "settings.KernelManager.shell_port: expected an integer from 0 to 65535", {"KernelManager": {"shell_port": 65536}}),
    SC("sc-trait-newline", "settings.ServerApp: 'port\\n' is not a valid trait name", {"ServerApp": {"port\n": 1}}),
    SC("sc-trait-inner-newline", "settings.ServerApp: 'po\\nrt' is not a valid trait name", {"ServerApp": {"po\nrt": 1}}),
    SC("sc-class-newline", "settings: 'LabApp\\n' is not a valid class name", {"LabApp\n": {"x": 1}}, extra_classes=["LabApp\n"]),
    SC("sc-extra-trait-newline", "settings.LabApp: 'x\\n' is not a valid trait name", {"LabApp": {"x\n": 1}}, extra_classes=["LabApp"]),
    SC("sc-extra-class-known", "extra_classes[0]: ServerApp is a class of jupyter_server", {"ServerApp": {"port": "x"}}, extra_classes=["ServerApp"]),
    SC("sc-unknown-class", "settings.ServerAp: unknown class 'ServerAp'", {"ServerAp": {"port": 1}}),
    SC("sc-unknown-trait", "settings.ServerApp.prot: ServerApp has no configurable trait 'prot'", {"ServerApp": {"prot": 1}}),
    SC("sc-wrong-type", "settings.ServerApp.open_browser: expected a boolean", {"ServerApp": {"open_browser": "no"}}),
    SC("sc-section-not-mapping", "settings.ServerApp: expected a mapping of trait names to values", {"ServerApp": 1}),
    SC("sc-lower-case-class", "'serverApp' is not a valid class name", {"serverApp": {"port": 1}}),
    SC("sc-deprecated-conflict", "both set", {"ServerApp": {"notebook_dir": "/a", "root_dir": "/b"}}),
    SC("sc-format", "value of format must be one of: py, json", {"ServerApp": {"port": 1}}, format="yaml"),
    PH("ph-dict-password", "password must be a string, not a mapping", password={"a": 1}),
    PH("ph-list-password", "password must be a string, not a list", password=["secret-pw"]),
    PH("ph-number-password", "password must be a string, not a number", password=12345678),
    PH("ph-empty-password", "password must not be empty", password=""),
    PH("ph-sha1-code-server", "algorithm=sha1 is only available with format=jupyter", password="pw-12345", format="code_server", algorithm="sha1"),
    PH("ph-absurd-cost", "existing_hash: its argon2 cost (m=4194304 KiB, t=1000, p=8) is above the most", password="pw-12345",
       existing_hash="argon2:" + ABSURD_ARGON2),
    PH("ph-absurd-cost-code-server", "existing_hash: its argon2 cost", password="pw-12345", format="code_server", existing_hash=ABSURD_ARGON2),
    PH("ph-dict-existing-hash", "existing_hash must be a string, not a mapping", password="pw-12345", existing_hash={"h": 1}),
    SI("si-ipv6-unclosed", "url: not a valid URL (Invalid IPv6 URL)", url="http://[::1/"),
    SI("si-port-range", "url: not a valid URL (Port out of range", url="http://127.0.0.1:99999/"),
    SI("si-scheme", "url: 'ftp://127.0.0.1/' is not an http:// or https:// URL with a host", url="ftp://127.0.0.1/"),
    SI("si-token-in-url", "url: do not put the token in the URL", url=SERVER + "?token=abc"),
    SI("si-credentials-in-url", "url: do not put credentials in the URL", url="http://user:pw@127.0.0.1:{port}/"),
    SI("si-empty-url", "url: give the server's base URL", url=" "),
    SI("si-missing-ca-path", "ca_path: /nonexistent/ca.pem is not a file", ca_path="/nonexistent/ca.pem"),
    SI("si-dict-password", "password must be a string, not a mapping", password={"a": 1}),
    SI("si-dict-token", "token must be a string, not a mapping", token={"a": 1}),
    SI("si-token-and-password", "parameters are mutually exclusive: token|password", token="token-4c1d", password="password-9e2f"),
    SI("si-timeout", "timeout must be a positive number of seconds, not 0", timeout=0),
    SI("si-no-execute", "Unsupported parameters for (remotedev.jupyter.server_info) module: execute", execute={"code": "1"}),
    KE("ke-timeout", "timeout must be a positive number of seconds, not 0", timeout=0),
    KE("ke-code-timeout", "code_timeout must be a positive number of seconds, not -1", code_timeout=-1),
    KE("ke-no-code", "missing required arguments: code", code=None),
    KE("ke-dict-token", "token must be a string, not a mapping", token={"a": 1}),
    KE("ke-token-and-password", "parameters are mutually exclusive: token|password", token="token-4c1d", password="password-9e2f"),
    KE("ke-scheme", "url: 'ftp://127.0.0.1/' is not an http:// or https:// URL with a host", url="ftp://127.0.0.1/"),
]


def run_table(tmp):
    """Every case as a task of one playbook; the server_info cases aim at a
    socket that listens but never answers (a connection would show there).
    Returns (the run, whether anything connected)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    tasks = []
    for case in CASES:
        args = dict(case.args)
        if case.module == "server_config":
            args["dest"] = str(tmp / f"{case.id}.py")
        if case.module in ("server_info", "kernel_execute"):
            args["url"] = args["url"].format(port=port)
        tasks.append({"name": case.id, f"remotedev.jupyter.{case.module}": args, "ignore_errors": True})
    playbook = tmp / "bad_module_input.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Bad module input", "hosts": "localhost", "gather_facts": False,
                                         "tasks": tasks}], sort_keys=False))
    try:
        run = run_playbook(playbook, *LOCAL)
        try:
            listener.accept()[0].close()
            connected = True
        except BlockingIOError:
            connected = False
    finally:
        listener.close()
    return run, connected


def problems_of(case, result, tmp):
    """What is wrong with one case's result ([] when it was refused as it should)."""
    found = []
    if not result.get("failed"):
        found.append("did not fail: %s" % result)
    elif case.message not in str(result.get("msg")):
        found.append("message %r lacks %r" % (result.get("msg"), case.message))
    if result.get("changed"):
        found.append("changed")
    if case.module == "server_config" and (tmp / f"{case.id}.py").exists():
        found.append("wrote its dest")
    if "Traceback" in str(result.get("module_stderr", "")) + str(result.get("exception", "")):
        found.append("a traceback instead of a message")
    return found


def test_each_bad_input_is_refused_naming_the_option(tmp_path):
    """One test, one playbook run (under pytest-xdist a parametrized test would
    run the playbook once per worker); every case is checked and every failing
    case reported."""
    assert len(CASES) >= 30 and len({case.id for case in CASES}) == len(CASES)
    run, connected = run_table(tmp_path)
    wrong = {case.id: problems_of(case, run.result(case.id), tmp_path) for case in CASES}
    wrong = {case_id: found for case_id, found in wrong.items() if found}
    assert not wrong, "\n".join("%s: %s" % (case_id, "; ".join(found)) for case_id, found in wrong.items())
    assert not connected, "a server_info or kernel_execute case with bad input connected to the server"
