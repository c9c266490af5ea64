# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named users: validation, the users Secret (kept tokens and hashes), and
how the Jupyter Server component mounts and configures them."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _deploy_common as dc
from ansible_collections.remotedev.jupyter.plugins.module_utils import _users as users_mod
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_common import InvalidSettings
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_engine import component_for
from ansible_collections.remotedev.jupyter.plugins.module_utils._password import hash_password, verify_hash
from ansible_collections.remotedev.jupyter.plugins.module_utils._users import UNATTRIBUTED, kernels_by_user, user_status_lines
from ansible_collections.remotedev.jupyter.tests.unit.plugins.module_utils.role_settings import settings_for

VAR = "jupyter_server_users"
ADA = {"name": "ada", "role": "user", "password": "ada-password", "password_hash": None, "token": None}
INSTANCE = {dc.CHECKSUM_KEY: "k" * 64, "token": "t" * 48}
VIC = {"name": "vic", "role": "viewer", "password": None, "password_hash": None, "token": "v" * 40}


def jupyter(**overrides):
    return component_for("jupyter_server", settings_for("jupyter_server", **overrides))


def counter():
    made = []

    def generate():
        made.append("generated-%02d" % len(made) + "x" * 32)
        return made[-1]
    return generate, made


@pytest.mark.parametrize("users, message", [
    ("ada", "must be a list"),
    ([{"name": "Ada"}], "[0].name must be lower case"),
    ([{"name": "_instance"}], "[0].name must be lower case"),
    ([{"name": "ada", "role": "root"}], "[0] (ada).role must be one of admin, user, viewer"),
    ([{"name": "ada", "token": "short"}], "[0] (ada).token must be at least 32"),
    ([{"name": "ada", "password": "short"}], "[0] (ada).password is 5 characters long"),
    ([{"name": "ada", "password": "long-enough", "password_hash": "argon2:x"}], "sets both"),
    ([{"name": "ada", "password_hash": "sha1:abcdefabcdef:" + "0" * 40}], "[0] (ada).password_hash is not"),
    ([{"name": "ada", "colour": "red"}], "unknown keys colour"),
    ([{"name": "ada"}, {"name": "ada"}], "[1] (ada): the name appears twice"),
], ids=["not-a-list", "upper-case", "instance-name", "role", "short-token", "short-password", "both", "sha1-hash",
        "unknown-key", "duplicate"])
def test_users_problems(users, message):
    problems = users_mod.users_problems(users, VAR)
    assert any(message in p for p in problems), problems
    assert all(p.startswith(VAR) for p in problems)
    assert not any("short" in p.split(":")[-1] and "long" not in p for p in problems if "token" in p)


def test_valid_users_have_no_problems():
    assert users_mod.users_problems([ADA, VIC, {"name": "root.admin-1", "role": "admin"}], VAR) == []


def test_bad_users_refused_before_any_change_naming_the_variable():
    with pytest.raises(InvalidSettings) as info:
        jupyter(users=[{"name": "ada", "role": "root", "password": "secret-password-1"}]).validate()
    assert "jupyter_server_users[0] (ada).role" in str(info.value)
    assert "secret-password-1" not in str(info.value)


def test_resolve_generates_once_keeps_and_verifies():
    generate, made = counter()
    first = users_mod.resolve_users([ADA, VIC], {}, "argon2", generate)
    assert len(made) == 1 and first["token-ada"] == made[0] and first["token-vic"] == "v" * 40
    assert verify_hash(first["password-hash-ada"], "ada-password", "jupyter")
    assert first["password-hash-ada"].startswith("argon2:")
    document = json.loads(first["users.json"])
    assert [(u["name"], u["role"]) for u in document["users"]] == [("ada", "user"), ("vic", "viewer")]
    assert document["users"][0]["token_sha256"] == hashlib.sha256(made[0].encode()).hexdigest()
    assert "ada-password" not in first["users.json"] and made[0] not in first["users.json"]
    # Second converge: everything kept, the same bytes (the Secret stays unchanged).
    again = users_mod.resolve_users([VIC, ADA], first, "argon2", generate)
    assert again == first and len(made) == 1
    # A new password replaces the hash; the token stays.
    rotated = users_mod.resolve_users([dict(ADA, password="new-password"), VIC], first, "argon2", generate)
    assert rotated["token-ada"] == first["token-ada"]
    assert verify_hash(rotated["password-hash-ada"], "new-password", "jupyter")
    # A removed user is gone from the file and from the Secret.
    removed = users_mod.resolve_users([VIC], first, "argon2", generate)
    assert set(removed) == {"token-vic", "users.json"} and "ada" not in removed["users.json"]


def test_explicit_hash_is_used():
    password_hash = hash_password("hashed-password", "jupyter", "argon2")
    data = users_mod.resolve_users([{"name": "ada", "password_hash": password_hash}], {}, "argon2", counter()[0])
    assert data["password-hash-ada"] == password_hash


def test_no_users_no_users_secret_nor_config():
    component = jupyter()
    creds = component.credentials({})
    assert creds["users_data"] is None
    kinds = [(o["kind"], o["metadata"]["name"]) for o in component.objects(creds)]
    assert ("Secret", "jupyter-demo-users") not in kinds
    assert "remotedev_users" not in component.config
    assert component.optional_named()[0] == ("v1", "Secret", "jupyter-demo-users", False)


def test_users_secret_mounted_alone_and_outside_the_pod_checksum():
    component = jupyter(users=[ADA, VIC])
    component.facts["users_secret"] = {}
    creds = component.credentials(INSTANCE)
    objects = {(o["kind"], o["metadata"]["name"]): o for o in component.objects(creds)}
    secret = objects[("Secret", "jupyter-demo-users")]
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(values) == {"token-ada", "password-hash-ada", "token-vic", "users.json"}
    pod = objects[("Deployment", "jupyter-demo")]["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "users")
    assert volume["secret"] == {"secretName": "jupyter-demo-users", "defaultMode": 0o440,
                                "items": [{"key": "users.json", "path": "users.json"}]}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "users")
    assert mount == {"name": "users", "mountPath": "/etc/jupyter-users", "readOnly": True}
    assert "c.ServerApp.identity_provider_class = 'remotedev_users.UsersIdentityProvider'" in component.config
    assert "c.UsersIdentityProvider.users_file = '/etc/jupyter-users/users.json'" in component.config
    # Other users, same pod: neither the config nor the secret checksum moves.
    other = jupyter(users=[dict(ADA, password="another-password")])
    other.facts["users_secret"] = values
    other_creds = other.credentials(INSTANCE)
    assert other.config == component.config
    assert other_creds["checksum"] == creds["checksum"]
    assert other_creds["users_data"]["token-ada"] == values["token-ada"]
    for text in (component.config, json.dumps(component.connection(creds)), "\n".join(component.summary(creds))):
        assert values["token-ada"] not in text and "ada-password" not in text


def test_instance_credentials_switch():
    assert "c.UsersIdentityProvider.instance_credentials = False" in jupyter(
        users=[VIC], instance_credentials=False).config


# ---------------------------------------------------------------- the status report: who runs what

KERNELS = [
    {"id": "k1", "name": "python3", "execution_state": "idle", "last_activity": "2026-12-01T01:00:00.000000Z",
     "connections": 1, "remotedev_user": "ada"},
    {"id": "k2", "name": "tools", "execution_state": "busy", "last_activity": "2026-12-01T02:00:00.000000Z",
     "connections": 0, "remotedev_user": "ada"},
    {"id": "k3", "name": "python3", "execution_state": "idle", "last_activity": "2026-12-01T00:30:00.000000Z",
     "connections": 0, "remotedev_user": "_instance"},
    {"id": "k4", "name": "python3", "execution_state": "idle", "last_activity": "2026-11-30T23:00:00.000000Z",
     "connections": 0},
]


def test_kernels_by_user_lists_every_user_newest_first_and_unattributed_last():
    report = kernels_by_user(KERNELS, ["bob", "ada"])
    assert [u["name"] for u in report] == ["ada", "bob", "_instance", UNATTRIBUTED]
    ada = report[0]
    assert [k["id"] for k in ada["kernels"]] == ["k2", "k1"]
    assert ada["last_activity"] == "2026-12-01T02:00:00.000000Z"
    assert report[1] == {"name": "bob", "kernels": [], "last_activity": ""}
    assert [k["id"] for k in report[3]["kernels"]] == ["k4"]
    assert set(ada["kernels"][0]) == {"id", "name", "execution_state", "last_activity", "connections"}


def test_kernels_by_user_without_kernels():
    assert kernels_by_user([], ["ada"]) == [{"name": "ada", "kernels": [], "last_activity": ""}]
    assert kernels_by_user([], []) == []


def test_user_status_lines():
    lines = user_status_lines(kernels_by_user(KERNELS, ["ada", "bob"]))
    assert lines[0] == ("User ada: 2 kernel(s), last activity 2026-12-01T02:00:00.000000Z: "
                        "k2 tools busy connections=0 last_activity=2026-12-01T02:00:00.000000Z; "
                        "k1 python3 idle connections=1 last_activity=2026-12-01T01:00:00.000000Z")
    assert lines[1] == "User bob: no running kernel"
    assert lines[3].startswith("User (not recorded): 1 kernel(s)")
