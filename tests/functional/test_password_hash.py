# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""password_hash against the real verifiers.

- Jupyter forms: jupyter_server.auth.security.passwd_check (the function the
  server's PasswordIdentityProvider calls); the live-server tests also log in
  with a password hashed here.
- code-server form: the npm argon2 package code-server uses, through the same
  check as code-server's isHashMatch (tests/functional/node/verify.js).
- The module itself through `ansible localhost -m`, in normal and check mode.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from helpers import NODE_DIR, node_verifier_ready  # pylint: disable=import-error

from tests.support.playbook import run_module

from ansible_collections.remotedev.jupyter.plugins.module_utils._password import (
    hash_password,
    make_hash,
    verify_hash,
)
from jupyter_server.auth.security import passwd, passwd_check

PASSWORDS = [
    "s3cret",
    "correct horse battery staple",
    "\u00fcn\u00efc\u00f8d\u00e9 \u4e2d\u6587 \U0001F511",
    "quotes ' \" ` and $ {{ jinja }}",
    "new\nline\ttab",
    " leading and trailing ",
    "x" * 512,
]


def node_request(request):
    if not node_verifier_ready():
        pytest.fail("the npm argon2 verifier is not installed: run `make modules-node-deps` (or `make test-modules`)")
    completed = subprocess.run(["node", "verify.js"], cwd=str(NODE_DIR), input=json.dumps(request),
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


# ---------------------------------------------------------------- Jupyter


@pytest.mark.parametrize("algorithm", ["argon2", "sha1"])
@pytest.mark.parametrize("password", PASSWORDS)
def test_jupyter_hashes_pass_jupyter_servers_check(password, algorithm):
    hashed = make_hash(password, "jupyter", algorithm)
    assert hashed.startswith(algorithm + ":")
    assert passwd_check(hashed, password) is True
    assert passwd_check(hashed, password + "x") is False
    assert passwd_check(hashed, password[:-1]) is False
    assert passwd_check(hashed, "") is False


@pytest.mark.parametrize("algorithm", ["argon2", "sha1"])
def test_hashes_made_by_jupyter_server_are_kept(algorithm):
    # A hash from `jupyter server password` (jupyter_server's passwd) counts as existing_hash.
    theirs = passwd("s3cret", algorithm)
    assert verify_hash(theirs, "s3cret", "jupyter", algorithm)
    assert hash_password("s3cret", "jupyter", algorithm, theirs) == (theirs, False, None)
    _hash, changed, _note = hash_password("other", "jupyter", algorithm, theirs)
    assert changed


# ---------------------------------------------------------------- code-server


def test_code_server_hashes_pass_code_servers_check():
    ours = [make_hash(password, "code_server", "argon2") for password in PASSWORDS]
    cases = []
    expected = []
    for password, hashed in zip(PASSWORDS, ours):
        cases += [{"hash": hashed, "password": password},
                  {"hash": hashed, "password": password + "x"},
                  {"hash": hashed, "password": ""}]
        expected += [True, False, False]
    # The Jupyter form is not a code-server hash (code-server wants the bare string).
    cases.append({"hash": make_hash("s3cret", "jupyter", "argon2"), "password": "s3cret"})
    expected.append(False)
    assert node_request({"verify": cases}) == expected


def test_hashes_made_by_code_server_are_kept():
    theirs = node_request({"hash": PASSWORDS})
    for password, hashed in zip(PASSWORDS, theirs):
        assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert hash_password(password, "code_server", "argon2", hashed) == (hashed, False, None)
        new, changed, _note = hash_password(password + "!", "code_server", "argon2", hashed)
        assert changed and new != hashed


# ---------------------------------------------------------------- the module through Ansible


def test_module_makes_a_jupyter_hash_and_keeps_it():
    first = run_module("remotedev.jupyter.password_hash", {"password": "s3cret"}).result()
    assert first.get("failed") is not True, first
    assert first["changed"] is True
    assert first["format"] == "jupyter" and first["algorithm"] == "argon2"
    assert passwd_check(first["hash"], "s3cret")

    again = run_module("remotedev.jupyter.password_hash",
                       {"password": "s3cret", "existing_hash": first["hash"]}).result()
    assert again["changed"] is False
    # The kept hash is returned as is, not as no_log asterisks.
    assert again["hash"] == first["hash"]

    rotated = run_module("remotedev.jupyter.password_hash",
                         {"password": "n3w", "existing_hash": first["hash"]}).result()
    assert rotated["changed"] is True
    assert passwd_check(rotated["hash"], "n3w") and not passwd_check(rotated["hash"], "s3cret")


@pytest.mark.parametrize("password,hash_format", [
    ("a", "jupyter"), ("argon2", "jupyter"), ("2", "jupyter"), ("$", "code_server"), ("v=19", "code_server"),
])
def test_module_result_is_not_rewritten_by_masking(password, hash_format):
    """Ansible masks every occurrence of a no_log value in a module's result:
    a password that is part of its own hash (or of "argon2") must still come
    back as a hash that verifies, in the real format and algorithm."""
    first = run_module("remotedev.jupyter.password_hash", {"password": password, "format": hash_format}).result()
    assert first.get("failed") is not True, first
    assert (first["format"], first["algorithm"]) == (hash_format, "argon2")
    assert "********" not in first["hash"]
    if hash_format == "jupyter":
        assert passwd_check(first["hash"], password)
    else:
        assert node_request({"verify": [{"hash": first["hash"], "password": password}]}) == [True]
    kept = run_module("remotedev.jupyter.password_hash",
                      {"password": password, "format": hash_format, "existing_hash": first["hash"]}).result()
    assert kept["changed"] is False and kept["hash"] == first["hash"]


def test_module_in_check_mode_computes_the_same_way():
    existing = make_hash("s3cret", "code_server", "argon2")
    kept = run_module("remotedev.jupyter.password_hash",
                      {"password": "s3cret", "format": "code_server", "existing_hash": existing},
                      check=True, diff=True).result()
    assert kept["changed"] is False and kept["hash"] == existing
    new = run_module("remotedev.jupyter.password_hash", {"password": "s3cret", "format": "code_server"},
                     check=True).result()
    assert new["changed"] is True
    assert node_request({"verify": [{"hash": new["hash"], "password": "s3cret"}]}) == [True]


def test_module_sha1_is_legacy_and_warned():
    run = run_module("remotedev.jupyter.password_hash", {"password": "s3cret", "algorithm": "sha1"})
    result = run.result()
    assert passwd_check(result["hash"], "s3cret")
    assert any("legacy" in warning for warning in result.get("warnings", [])), result


@pytest.mark.parametrize("args,message", [
    ({"password": "s3cret", "format": "code_server", "algorithm": "sha1"},
     "algorithm=sha1 is only available with format=jupyter"),
    ({"password": ""}, "password must not be empty"),
    ({"password": "s3cret", "format": "htpasswd"}, "value of format must be one of: jupyter, code_server"),
])
def test_module_bad_input_fails_clearly(args, message):
    run = run_module("remotedev.jupyter.password_hash", args)
    result = run.result()
    assert result["failed"] is True
    assert message in result["msg"]
    assert run.stats["localhost"]["failures"] == 1


def test_module_never_logs_the_password_even_at_vvv():
    password = "never-in-any-log-\u00e9-7f3a9c"
    existing = make_hash(password, "jupyter", "argon2")
    # ANSIBLE_INJECT_INVOCATION puts the module arguments into the result.
    run = run_module("remotedev.jupyter.password_hash", {"password": password, "existing_hash": existing},
                     verbosity=3, env={"ANSIBLE_INJECT_INVOCATION": "1"})
    assert run.result()["changed"] is False
    assert password not in run.stdout and password not in run.stderr
    # The echoed arguments keep both secrets masked, though the kept hash is the result.
    invocation = run.result()["invocation"]["module_args"]
    assert invocation["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert invocation["existing_hash"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert run.result()["hash"] == existing
