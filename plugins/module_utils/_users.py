# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named users of a Jupyter Server (PRIVATE, no public API): validation of
jupyter_server_users and the users Secret that the image's remotedev_users
server extension reads.

The users Secret is separate from the instance's Secret: it is not part of the
pod's secret checksum, so adding, removing or rotating a user never rolls the
pod. It holds the users file (users.json: names, roles, argon2 password hashes
and sha256 digests of the tokens; the only key mounted into the pod) and, per
user, the token and the password hash to keep across converges
(token-<name>, password-hash-<name>)."""

from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.remotedev.jupyter.plugins.module_utils._password import (
    MIN_PASSWORD_LENGTH,
    hash_problem,
    rehash_unless_matching,
)

ROLES = ("admin", "user", "viewer")
USER_KEYS = ("name", "role", "password", "password_hash", "token")
# Names become Secret keys, audit log words and cookie values: no blanks, no
# upper case, and never the extension's instance identity (_instance).
NAME = re.compile(r"^[a-z][a-z0-9._-]{0,62}$")
USERS_FILE_KEY = "users.json"
TOKEN_KEY_PREFIX = "token-"
HASH_KEY_PREFIX = "password-hash-"
MIN_TOKEN_LENGTH = 32


def users_problems(users, var):
    """Messages naming var[index] (and the user) for every bad entry; never a credential."""
    if not isinstance(users, list):
        return ["%s must be a list of users ({name, role, password, password_hash, token})." % var]
    problems, seen = [], set()
    for index, user in enumerate(users):
        where = "%s[%d]" % (var, index)
        if not isinstance(user, dict):
            problems.append("%s must be a mapping with name and role." % where)
            continue
        name = user.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            problems.append("%s.name must be lower case letters, digits, '.', '_' or '-', starting with a letter "
                            "(at most 63 characters), got %s." % (where, json.dumps(name)))
            continue
        where = "%s[%d] (%s)" % (var, index, name)
        if name in seen:
            problems.append("%s: the name appears twice." % where)
        seen.add(name)
        unknown = sorted(set(user) - set(USER_KEYS))
        if unknown:
            problems.append("%s has unknown keys %s (known: %s)." % (where, ", ".join(unknown), ", ".join(USER_KEYS)))
        if user.get("role", "user") not in ROLES:
            problems.append("%s.role must be one of %s, got %s." % (where, ", ".join(ROLES), json.dumps(user.get("role"))))
        for key in ("password", "password_hash", "token"):
            if user.get(key) is not None and not isinstance(user.get(key), str):
                problems.append("%s.%s must be a string." % (where, key))
        password, password_hash, token = (user.get(k) or "" for k in ("password", "password_hash", "token"))
        if not all(isinstance(v, str) for v in (password, password_hash, token)):
            continue
        if password and len(password) < MIN_PASSWORD_LENGTH:
            problems.append("%s.password is %d characters long: it must have at least %d."
                            % (where, len(password), MIN_PASSWORD_LENGTH))
        if password and password_hash:
            problems.append("%s sets both password and password_hash: set one." % where)
        if password_hash:
            reason = hash_problem(password_hash, "jupyter")
            if reason or not password_hash.startswith("argon2:"):
                problems.append("%s.password_hash is not a Jupyter argon2 hash: %s (the value is not shown)."
                                % (where, reason or "it must start with argon2:"))
        if token and (len(token) < MIN_TOKEN_LENGTH or re.search(r"[^\x21-\x7e]", token)):
            problems.append("%s.token must be at least %d printable ASCII characters without blanks (or leave it "
                            "out: one is generated once and kept)." % (where, MIN_TOKEN_LENGTH))
    return problems


def resolve_users(users, existing, algorithm, generate_token):
    """The users Secret's data: tokens explicit, else kept, else generated once;
    password hashes from the password (kept while it matches), else the explicit
    hash, else the kept one. Sorted, so that an unchanged inventory gives the
    same bytes and the Secret stays unchanged."""
    data, entries = {}, []
    for user in sorted(users, key=lambda u: u["name"]):
        name = user["name"]
        token = user.get("token") or existing.get(TOKEN_KEY_PREFIX + name) or generate_token()
        kept_hash = existing.get(HASH_KEY_PREFIX + name, "")
        if user.get("password"):
            password_hash = rehash_unless_matching(user["password"], "jupyter", algorithm, kept_hash)
        else:
            password_hash = user.get("password_hash") or kept_hash
        data[TOKEN_KEY_PREFIX + name] = token
        if password_hash:
            data[HASH_KEY_PREFIX + name] = password_hash
        entries.append({
            "name": name,
            "role": user.get("role") or "user",
            "password_hash": password_hash,
            "token_sha256": hashlib.sha256(token.encode("utf-8")).hexdigest(),
        })
    data[USERS_FILE_KEY] = json.dumps({"users": entries}, indent=1, sort_keys=True) + "\n"
    return data


def user_summary(users):
    """Names and roles, for the converge summary (no credential)."""
    return ", ".join("%s (%s)" % (u["name"], u.get("role") or "user") for u in sorted(users, key=lambda u: u["name"]))


# Kernels the remotedev_users extension could not attribute: started before
# the server's last restart, or on a server without the extension.
UNATTRIBUTED = "(not recorded)"


def kernels_by_user(kernels, names):
    """For the status report: each configured user (and any other owner the
    server names, such as the instance identity _instance) with their running
    kernels, newest activity first, and their last activity (the newest of
    their kernels' last_activity). Kernels without an owner come last."""
    owned = {name: [] for name in names}
    for kernel in kernels:
        owner = kernel.get("remotedev_user") or UNATTRIBUTED
        owned.setdefault(owner, []).append({
            "id": kernel.get("id", ""),
            "name": kernel.get("name", ""),
            "execution_state": kernel.get("execution_state", ""),
            "last_activity": kernel.get("last_activity", ""),
            "connections": kernel.get("connections", 0),
        })
    order = sorted((n for n in owned if n != UNATTRIBUTED), key=lambda n: (n not in names, n))
    if UNATTRIBUTED in owned:
        order.append(UNATTRIBUTED)
    report = []
    for owner in order:
        # ISO 8601 timestamps of one server compare as text.
        mine = sorted(owned[owner], key=lambda k: k["last_activity"] or "", reverse=True)
        report.append({"name": owner, "kernels": mine, "last_activity": mine[0]["last_activity"] if mine else ""})
    return report


def user_status_lines(users):
    """One line per user: the kernels (id, kernelspec, state, connections, last activity)."""
    lines = []
    for user in users:
        if not user["kernels"]:
            lines.append("User %s: no running kernel" % user["name"])
            continue
        kernels = "; ".join("%s %s %s connections=%s last_activity=%s" % (
            k["id"], k["name"], k["execution_state"], k["connections"], k["last_activity"] or "-") for k in user["kernels"])
        lines.append("User %s: %d kernel(s), last activity %s: %s" % (
            user["name"], len(user["kernels"]), user["last_activity"] or "-", kernels))
    return lines
