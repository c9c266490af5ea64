# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""server_config and server_info run by ansible-playbook / ansible, as users run them.

Normal, --check and --diff runs; idempotency (second run changed=0); bad input
fails with one clear message and leaves files alone; secrets stay out of the
output even at -vvv. server_info runs against the live jupyter_server of
conftest.live_server.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from helpers import LOCAL, free_port, show_config_json  # pylint: disable=import-error

from tests.support.playbook import run_module, run_playbook

from jupyter_server.auth.security import passwd_check

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
SETTINGS = {
    "ServerApp": {"ip": "0.0.0.0", "port": 8888, "open_browser": False, "root_dir": "/tmp"},
    "MappingKernelManager": {"cull_idle_timeout": 3600, "cull_interval": 300},
    "KernelSpecManager": {"allowed_kernelspecs": ["python3"]},
}


def write_config(dest, settings, check=False, diff=False, verbosity=0, **extra):
    extra_vars = {"config_dest": str(dest), "config_settings": settings}
    extra_vars.update(extra)
    return run_playbook(PLAYBOOKS / "server_config.yml", *LOCAL, extra_vars=extra_vars, check=check, diff=diff,
                        verbosity=verbosity)


def snapshot(path):
    info = os.stat(path)
    return path.read_bytes(), info.st_mtime_ns, stat.S_IMODE(info.st_mode)


# ---------------------------------------------------------------- server_config


def test_server_config_writes_then_is_idempotent_and_jupyter_loads_it(tmp_path):
    dest = tmp_path / "etc" / "jupyter_server_config.py"
    dest.parent.mkdir()

    first = write_config(dest, SETTINGS, diff=True)
    result = first.result("Render and write the configuration")
    assert first.stats["localhost"]["failures"] == 0, first.summary()
    assert result["changed"] is True
    assert dest.read_text(encoding="utf-8") == result["content"]
    assert result["diff"]["before"] == ""
    assert "c.ServerApp.port = 8888" in result["content"]
    assert result["migrated"] == [] and result["insecure_settings"] == []

    second = write_config(dest, SETTINGS, diff=True)
    assert second.changed("localhost") == 0
    assert second.result("Render and write the configuration")["checksum"] == result["checksum"]

    shown = show_config_json(dest.parent)
    shown["ServerApp"].pop("jpserver_extensions", None)   # enabled by the venv's own config.d files
    assert shown["ServerApp"] == SETTINGS["ServerApp"]
    assert shown["MappingKernelManager"] == SETTINGS["MappingKernelManager"]
    assert shown["KernelSpecManager"]["allowed_kernelspecs"] == "{'python3'}"   # a real set, printed by repr()


def test_server_config_check_mode_and_diff_change_nothing(tmp_path):
    dest = tmp_path / "jupyter_server_config.py"
    # A new file in check mode: reported, not created.
    created = write_config(dest, SETTINGS, check=True, diff=True)
    assert created.result("Render and write the configuration")["changed"] is True
    assert not dest.exists()

    write_config(dest, SETTINGS)
    before = snapshot(dest)
    changed_settings = json.loads(json.dumps(SETTINGS))
    changed_settings["ServerApp"]["port"] = 9999
    run = write_config(dest, changed_settings, check=True, diff=True)
    result = run.result("Render and write the configuration")
    assert result["changed"] is True
    diff = result["diff"]
    assert "c.ServerApp.port = 8888" in diff["before"]
    assert "c.ServerApp.port = 9999" in diff["after"]
    assert snapshot(dest) == before


def test_server_config_backup_mode_and_migration(tmp_path):
    dest = tmp_path / "jupyter_server_config.py"
    write_config(dest, SETTINGS, config_mode="0640")
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o640
    old = dest.read_text(encoding="utf-8")

    legacy = {"NotebookApp": {"ip": "127.0.0.1", "notebook_dir": "/srv/notebooks"}}
    run = write_config(dest, legacy, config_backup=True, config_mode="0640")
    result = run.result("Render and write the configuration")
    assert result["changed"] is True
    assert Path(result["backup_file"]).read_text(encoding="utf-8") == old
    assert result["migrated"] == ["NotebookApp.ip -> ServerApp.ip", "NotebookApp.notebook_dir -> ServerApp.root_dir"]
    assert any("settings.NotebookApp.notebook_dir is deprecated" in w for w in result["warnings"])
    assert "c.ServerApp.root_dir = '/srv/notebooks'" in dest.read_text(encoding="utf-8")
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o640


def test_server_config_hides_secrets_in_output_and_makes_the_file_private(tmp_path):
    dest = tmp_path / "jupyter_server_config.py"
    token = "tok-" + "9f86d081884c7d659a2feaa0c55ad015"
    settings = {"IdentityProvider": {"token": token}, "ServerApp": {"ip": "127.0.0.1"}}
    run = write_config(dest, settings, diff=True, verbosity=3)
    result = run.result("Render and write the configuration")
    assert result["changed"] is True
    assert token in dest.read_text(encoding="utf-8")
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600          # a new file with a secret
    assert token not in run.stdout and token not in run.stderr
    assert "c.IdentityProvider.token = '********'" in result["content"]

    # Rotating the token: neither the old nor the new one shows in the diff.
    new_token = "tok-" + "60303ae22b998861bce3b28f33eec1be"
    rotated = write_config(dest, {"IdentityProvider": {"token": new_token}, "ServerApp": {"ip": "127.0.0.1"}},
                           diff=True)
    assert rotated.result("Render and write the configuration")["changed"] is True
    assert token not in rotated.stdout and new_token not in rotated.stdout
    assert new_token in dest.read_text(encoding="utf-8")


def test_server_config_insecure_settings_are_warned(tmp_path):
    run = write_config(tmp_path / "c.py", {"ServerApp": {"disable_check_xsrf": True, "allow_root": True}})
    result = run.result("Render and write the configuration")
    assert len(result["insecure_settings"]) == 2
    assert sum("insecure setting" in w for w in result["warnings"]) == 2


@pytest.mark.parametrize("settings,message", [
    ({"ServerApp": {"prot": 8888}}, "settings.ServerApp.prot: ServerApp has no configurable trait 'prot'; did you mean 'port'?"),
    ({"ServerAp": {"port": 8888}}, "settings.ServerAp: unknown class 'ServerAp'"),
    ({"ServerApp": {"port": "8888"}}, "settings.ServerApp.port: expected an integer from 0 to 65535, got string '8888'"),
    ({"ServerApp": {"open_browser": "yes"}}, "settings.ServerApp.open_browser: expected a boolean (true or false)"),
])
def test_server_config_bad_settings_fail_clearly_and_write_nothing(tmp_path, settings, message):
    dest = tmp_path / "jupyter_server_config.py"
    write_config(dest, SETTINGS)
    before = snapshot(dest)
    run = write_config(dest, settings)
    result = run.result("Render and write the configuration")
    assert result["failed"] is True
    assert result["msg"] == message or result["msg"].startswith(message)
    assert snapshot(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jupyter_server_config.py"]


def test_server_config_unusable_dest_fails_clearly(tmp_path):
    missing = tmp_path / "no-such-dir" / "jupyter_server_config.py"
    result = write_config(missing, SETTINGS).result("Render and write the configuration")
    assert result["failed"] is True
    assert result["msg"] == "dest: directory %s does not exist (or is not a directory)" % missing.parent
    assert not missing.parent.exists()

    result = write_config(tmp_path, SETTINGS).result("Render and write the configuration")
    assert result["msg"] == "dest: %s is a directory; give the path of the file" % tmp_path

    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    result = write_config(a_file / "jupyter_server_config.py", SETTINGS).result("Render and write the configuration")
    assert result["msg"].startswith("dest: directory %s does not exist" % a_file)


def test_server_config_json_format_with_dest(tmp_path):
    dest = tmp_path / "secret" / "jupyter_server_config.json"
    dest.parent.mkdir()
    settings = {"PasswordIdentityProvider": {"hashed_password": "argon2:$argon2id$v=19$m=10240,t=10,p=8$abc$def"}}
    run = write_config(dest, settings, config_format="json", diff=True)
    assert run.result("Render and write the configuration")["changed"] is True
    assert json.loads(dest.read_text()) == settings
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert settings["PasswordIdentityProvider"]["hashed_password"] not in run.stdout
    assert write_config(dest, settings, config_format="json").changed("localhost") == 0


def test_content_only_use_for_configmaps_and_secrets(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    password = "p\u00e4ssword-for-the-secret"
    first = run_playbook(PLAYBOOKS / "content_only.yml", *LOCAL,
                         extra_vars={"jupyter_password": password, "output_dir": str(out)}, diff=True)
    assert first.stats["localhost"]["failures"] == 0, first.summary()
    fragment = json.loads((out / "jupyter_server_config.json").read_text())
    hashed = fragment["PasswordIdentityProvider"]["hashed_password"]
    assert passwd_check(hashed, password)
    assert password not in first.stdout and hashed not in first.stdout
    shown = show_config_json(out, out)
    assert shown["PasswordIdentityProvider"]["hashed_password"] == hashed
    assert shown["ServerApp"]["port"] == 8888

    # Next run with the stored hash: nothing changes, so the Secret and the pods stay as they are.
    second = run_playbook(PLAYBOOKS / "content_only.yml", *LOCAL,
                          extra_vars={"jupyter_password": password, "jupyter_existing_hash": hashed, "output_dir": str(out)})
    assert second.changed("localhost") == 0, second.summary()
    summary = second.result("Show the results the test reads (no secrets)")["msg"]
    assert summary["hash_changed"] is False
    assert json.loads((out / "jupyter_server_config.json").read_text())["PasswordIdentityProvider"]["hashed_password"] \
        == hashed


# ---------------------------------------------------------------- server_info, kernel_execute


def test_server_info_and_kernel_execute_playbook_with_token_and_password(live_server):
    for credentials in ({"jupyter_token": live_server.token}, {"jupyter_password": live_server.password}):
        for check in (False, True):
            run = run_playbook(PLAYBOOKS / "server_info.yml", *LOCAL, extra_vars=dict(jupyter_url=live_server.url, **credentials),
                               check=check, diff=check)
            assert run.stats["localhost"]["failures"] == 0, run.summary()
            assert run.result("Read version, kernelspecs and kernels")["url"] == live_server.url
            # kernel_execute is the one change, also when check mode only predicts it.
            assert run.changed("localhost") == 1
            result = run.result("Compute 6*7 in a kernel")
            assert result["result"] == (None if check else "42")
    status = live_server.get_json("api/status")
    assert status["kernels"] == 0   # every temporary kernel was shut down


def test_kernel_execute_runs_nothing_in_check_mode(live_server, tmp_path):
    marker = tmp_path / "written-by-the-kernel"
    args = {"url": live_server.url, "token": live_server.token, "code": "open(%r, 'w').write('x')" % str(marker)}
    predicted = run_module("remotedev.jupyter.kernel_execute", args, check=True).result()
    assert predicted.get("failed") is not True, predicted
    assert predicted["changed"] is True and predicted["kernel"] == "python3" and predicted["status"] is None
    assert not marker.exists()
    assert live_server.get_json("api/status")["kernels"] == 0   # and started no kernel

    ran = run_module("remotedev.jupyter.kernel_execute", args).result()
    assert ran["changed"] is True and ran["status"] == "ok"
    assert marker.read_text() == "x"


def test_server_info_starts_nothing(live_server):
    before = live_server.get_json("api/status")["kernels"]
    result = run_module("remotedev.jupyter.server_info", {"url": live_server.url, "token": live_server.token}).result()
    assert result["changed"] is False and result["kernels"] == []
    assert live_server.get_json("api/status")["kernels"] == before == 0


def test_server_info_never_logs_credentials(live_server):
    run = run_playbook(PLAYBOOKS / "server_info.yml", *LOCAL,
                       extra_vars={"jupyter_url": live_server.url, "jupyter_password": live_server.password}, verbosity=3)
    assert run.stats["localhost"]["failures"] == 0
    assert live_server.password not in run.stdout and live_server.password not in run.stderr
    run = run_playbook(PLAYBOOKS / "server_info.yml", *LOCAL,
                       extra_vars={"jupyter_url": live_server.url, "jupyter_token": live_server.token}, verbosity=3)
    assert live_server.token not in run.stdout and live_server.token not in run.stderr


def test_server_info_wrong_token_fails_clearly(live_server):
    wrong = "wrong-token-0123456789"
    run = run_module("remotedev.jupyter.server_info", {"url": live_server.url, "token": wrong}, verbosity=3)
    result = run.result()
    assert result["failed"] is True
    assert result["msg"] == "Jupyter Server at %s refused GET api/status (HTTP 403): the token was not accepted" \
        % live_server.url
    assert wrong not in run.stdout and wrong not in run.stderr


def test_server_info_wrong_password_fails_clearly(live_server):
    result = run_module("remotedev.jupyter.server_info", {"url": live_server.url, "password": "nope"}).result()
    assert result["failed"] is True
    assert result["msg"] == "password login to %s failed (HTTP 401): wrong password" % live_server.url


def test_server_info_unreachable_server_fails_clearly():
    url = "http://127.0.0.1:%d/jupyter/" % free_port()
    result = run_module("remotedev.jupyter.server_info",
                        {"url": url, "token": "some-token-value", "timeout": 5}).result()
    assert result["failed"] is True
    assert result["msg"].startswith("cannot reach Jupyter Server at %s (GET api): " % url)
    assert "refused" in result["msg"].lower()


def test_server_info_wrong_base_url_fails_clearly(live_server):
    url = "http://127.0.0.1:%d/" % live_server.port   # base_url /remotedev/ missing
    result = run_module("remotedev.jupyter.server_info", {"url": url, "token": live_server.token}).result()
    assert result["failed"] is True
    assert "HTTP 404" in result["msg"] and "base_url" in result["msg"]


def test_kernel_execute_unknown_kernel_fails_clearly(live_server):
    for check in (False, True):
        result = run_module("remotedev.jupyter.kernel_execute", {
            "url": live_server.url, "token": live_server.token, "kernel": "julia-1.9", "code": "1"}, check=check).result()
        assert result["failed"] is True
        assert result["msg"] == "kernel: unknown kernel 'julia-1.9' at %s (available: python3)" % live_server.url


def test_kernel_execute_code_errors(live_server):
    args = {"url": live_server.url, "token": live_server.token, "code": "print('before')\n1/0"}
    failed = run_module("remotedev.jupyter.kernel_execute", args).result()
    assert failed["failed"] is True
    assert failed["msg"] == "the code failed in kernel python3: ZeroDivisionError: division by zero"
    assert failed["stdout"] == "before\n"

    args["fail_on_error"] = False
    reported = run_module("remotedev.jupyter.kernel_execute", args).result()
    assert reported.get("failed") is not True
    assert reported["status"] == "error"
    assert reported["ename"] == "ZeroDivisionError"
    assert any("ZeroDivisionError" in line for line in reported["traceback"])
    assert "\x1b[" not in "".join(reported["traceback"])


def test_kernel_execute_code_timeout(live_server):
    result = run_module("remotedev.jupyter.kernel_execute", {
        "url": live_server.url, "token": live_server.token,
        "code": "import time; time.sleep(30)", "code_timeout": 3}).result()
    assert result["failed"] is True
    assert result["msg"] == "the code did not finish within 3 seconds (code_timeout)"
    assert live_server.get_json("api/status")["kernels"] == 0   # shut down anyway


def test_server_info_reports_running_kernels_and_status(live_server):
    result = run_module("remotedev.jupyter.server_info",
                        {"url": live_server.url, "token": live_server.token}, check=True).result()
    assert result["changed"] is False
    assert result["version"] == "2.21.1"
    assert result["default_kernel"] == "python3"
    assert result["kernelspecs"]["python3"]["language"] == "python"
    assert isinstance(result["kernels"], list)
    assert set(result["status"]) >= {"started", "last_activity", "connections", "kernels"}


# ---------------------------------------------------------------- kernel_execute and server_info over HTTPS


def test_kernel_execute_and_server_info_https_certificate_checks(live_tls_server):
    url = live_tls_server.url
    args = {"url": url, "token": live_tls_server.token, "code": "6 * 7"}

    untrusted = run_module("remotedev.jupyter.kernel_execute", args).result()
    assert untrusted["failed"] is True
    assert untrusted["msg"].startswith("cannot reach Jupyter Server at %s (GET api): " % url)
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted["msg"] and "ca_path" in untrusted["msg"]

    # Trusting the server's CA: REST and the wss:// kernel channel both verify it.
    trusted = run_module("remotedev.jupyter.kernel_execute", dict(args, ca_path=live_tls_server.ca_file)).result()
    assert trusted.get("failed") is not True, trusted
    assert trusted["result"] == "42"

    unchecked = run_module("remotedev.jupyter.kernel_execute", dict(args, validate_certs=False)).result()
    assert unchecked.get("failed") is not True, unchecked
    assert unchecked["result"] == "42"

    by_password = run_module("remotedev.jupyter.kernel_execute", {
        "url": url, "password": live_tls_server.password, "ca_path": live_tls_server.ca_file,
        "code": "print('over wss')"}).result()
    assert by_password["stdout"] == "over wss\n"

    info = run_module("remotedev.jupyter.server_info", dict(url=url, token=live_tls_server.token,
                                                            ca_path=live_tls_server.ca_file)).result()
    assert info.get("failed") is not True and info["version"] == "2.21.1"


def test_server_config_hides_secrets_of_a_hand_written_file_in_the_diff(tmp_path):
    dest = tmp_path / "jupyter_server_config.py"
    old_token = "hand-written-token-4b227777d4dd1fc61c6f884f48641d02"
    dest.write_text("c = get_config()\nc.ServerApp.token = '%s'\nimport os\n" % old_token)
    run = write_config(dest, SETTINGS, diff=True)
    result = run.result("Render and write the configuration")
    assert result["changed"] is True
    assert old_token not in run.stdout
    assert result["diff"]["before"].startswith("(previous content not shown")
