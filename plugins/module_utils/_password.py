# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Password hashes for Jupyter Server and code-server (private to this collection).

Jupyter Server (jupyter_server.auth.security.passwd/passwd_check) accepts
  argon2:<PHC string>          argon2-cffi PasswordHasher(memory_cost=10240, time_cost=10, parallelism=8)
  sha1:<salt>:<hex digest>     sha1(password utf-8 + salt ascii), 12 hex chars of salt (legacy)
code-server (src/node/util.ts hash/isHashMatch) stores a bare PHC string made by
the npm argon2 package with its defaults: argon2id, m=65536, t=3, p=4,
16-byte salt, 32-byte hash. code-server also uses that string as the value of
its session cookie, so the hash is a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import traceback

try:
    import argon2
    import argon2.exceptions

    HAS_ARGON2 = True
    ARGON2_IMPORT_ERROR = None
except ImportError:
    HAS_ARGON2 = False
    ARGON2_IMPORT_ERROR = traceback.format_exc()

FORMATS = ("jupyter", "code_server")
ALGORITHMS = ("argon2", "sha1")

# Cost parameters of jupyter_server.auth.security.passwd (2.x).
JUPYTER_ARGON2_PARAMETERS = {"memory_cost": 10240, "time_cost": 10, "parallelism": 8}
# Defaults of the npm argon2 package that code-server's hash() uses.
CODE_SERVER_ARGON2_PARAMETERS = {"memory_cost": 65536, "time_cost": 3, "parallelism": 4, "hash_len": 32, "salt_len": 16}
# Length of the Jupyter sha1 salt in hex characters (jupyter_server.auth.security.salt_len).
SHA1_SALT_HEX_CHARS = 12


# The shortest password the roles accept when one is given explicitly (the
# password_hash module hashes whatever it is given; the roles decide).
MIN_PASSWORD_LENGTH = 8


# Above these argon2 costs a hash is refused before it is verified: verifying
# it would hold a worker for minutes or gigabytes (ten times the most that
# jupyter_server or code-server make).
MAX_ARGON2_MEMORY_KIB = 655360
MAX_ARGON2_TIME_COST = 100
MAX_ARGON2_PARALLELISM = 80

_PHC = re.compile(r"^\$(argon2id|argon2i|argon2d)\$(?:v=(\d+)\$)?m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


class PasswordHashError(ValueError):
    """Bad input; the message names the option."""


def _kind(value):
    """What a non-string value is, in words (never the value: it is a credential)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "mapping", list: "list"}.get(type(value), type(value).__name__)


def argon2_problem(phc):
    """Why a bare argon2 PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash) is not
    one to verify: malformed, or of an absurd cost ("" when it is fine)."""
    match = _PHC.fullmatch(phc)
    if not match:
        return "it is not an argon2 PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)"
    return argon2_cost_problem(match)


def argon2_cost_problem(match):
    memory, time_cost, parallelism = (int(match.group(i)) for i in (3, 4, 5))
    if memory > MAX_ARGON2_MEMORY_KIB or time_cost > MAX_ARGON2_TIME_COST or parallelism > MAX_ARGON2_PARALLELISM:
        return ("its argon2 cost (m=%d KiB, t=%d, p=%d) is above the most this collection verifies "
                "(m=%d, t=%d, p=%d)" % (memory, time_cost, parallelism, MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_TIME_COST,
                                        MAX_ARGON2_PARALLELISM))
    return ""


def hash_problem(hashed, hash_format="jupyter"):
    """Why `hashed` is not a hash the server of `hash_format` accepts ("" when it is), without showing it.

    jupyter_server's passwd_check takes argon2:<PHC> or <hashlib algorithm>:<salt>:<hex digest>;
    code-server's HASHED_PASSWORD a bare argon2 PHC string (or, legacy, a SHA-256 hex digest)."""
    if not isinstance(hashed, str) or not hashed:
        return "it is empty or not a string"
    if hash_format == "code_server":
        if hashed.startswith("$argon2"):
            return argon2_problem(hashed)
        if len(hashed) == 64 and _HEX.fullmatch(hashed):
            return ""
        return "code-server takes a bare argon2 hash ($argon2id$v=19$m=...) or a SHA-256 hex digest"
    algorithm, sep, payload = hashed.partition(":")
    if not sep:
        return "jupyter_server takes argon2:$argon2id$... or sha1:<salt>:<hex digest>, and this has no ':'"
    if algorithm == "argon2":
        return argon2_problem(payload)
    if algorithm not in hashlib.algorithms_guaranteed:
        return "%s is not an algorithm jupyter_server accepts (argon2, sha1, sha256, ...)" % json.dumps(algorithm[:20])
    salt, sep, digest = payload.partition(":")
    size = hashlib.new(algorithm).digest_size
    if not size:  # shake_*: the length is the caller's choice, jupyter_server cannot check one
        return "%s has no fixed digest size" % algorithm
    if not sep or not salt or len(digest) != 2 * size or not _HEX.fullmatch(digest):
        return "a %s hash is %s:<salt>:<%d hex digits>" % (algorithm, algorithm, 2 * size)
    return ""


def check_request(password, hash_format, algorithm):
    """Raise PasswordHashError unless the combination can be hashed."""
    if hash_format not in FORMATS:
        raise PasswordHashError("format must be one of %s, got %r" % (", ".join(FORMATS), hash_format))
    if algorithm not in ALGORITHMS:
        raise PasswordHashError("algorithm must be one of %s, got %r" % (", ".join(ALGORITHMS), algorithm))
    if algorithm == "sha1" and hash_format != "jupyter":
        raise PasswordHashError(
            "algorithm=sha1 is only available with format=jupyter (code-server verifies argon2 hashes only)"
        )
    if not isinstance(password, str):
        # Never its repr: that would hash (and may log) a stand-in for the password.
        raise PasswordHashError("password must be a string, not a %s" % _kind(password))
    if password == "":
        raise PasswordHashError("password must not be empty")


def check_existing_hash(existing_hash):
    """A given existing_hash must be a string, and an argon2 one of a sane cost:
    it is verified (at its own cost) before anything else."""
    if existing_hash is None or existing_hash == "":
        return
    if not isinstance(existing_hash, str):
        raise PasswordHashError("existing_hash must be a string, not a %s" % _kind(existing_hash))
    phc = existing_hash[len("argon2:"):] if existing_hash.startswith("argon2:") else existing_hash
    match = _PHC.fullmatch(phc)
    if match:  # a malformed hash never verifies: a new one is made
        reason = argon2_cost_problem(match)
        if reason:
            raise PasswordHashError("existing_hash: %s; refused before verifying it" % reason)


def _sha1_digest(password, salt):
    return hashlib.sha1(password.encode("utf-8") + salt.encode("ascii")).hexdigest()


def make_hash(password, hash_format="jupyter", algorithm="argon2"):
    """A new salted hash of password in the requested form."""
    check_request(password, hash_format, algorithm)
    if algorithm == "sha1":
        salt = secrets.token_hex(SHA1_SALT_HEX_CHARS // 2)
        return "sha1:%s:%s" % (salt, _sha1_digest(password, salt))
    if hash_format == "jupyter":
        return "argon2:" + argon2.PasswordHasher(**JUPYTER_ARGON2_PARAMETERS).hash(password)
    return argon2.PasswordHasher(**CODE_SERVER_ARGON2_PARAMETERS).hash(password)


def _argon2_verify(phc, password):
    if not phc.startswith("$argon2"):
        return False
    try:
        return argon2.PasswordHasher().verify(phc, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def verify_hash(hashed, password, hash_format="jupyter", algorithm="argon2"):
    """True when hashed is in the requested form and verifies against password.

    A hash in another form (sha1 when argon2 is asked for, a bare PHC string
    when the Jupyter form is asked for) does not count: the caller wants that
    form, so a new hash is made.
    """
    if not isinstance(hashed, str) or not hashed:
        return False
    if hash_format == "code_server":
        return algorithm == "argon2" and _argon2_verify(hashed, password)
    if algorithm == "argon2":
        return hashed.startswith("argon2:") and _argon2_verify(hashed[len("argon2:"):], password)
    parts = hashed.split(":", 2)
    if len(parts) != 3 or parts[0] != "sha1" or not parts[2]:
        return False
    salt, digest = parts[1], parts[2]
    try:
        expected = _sha1_digest(password, salt)
    except UnicodeEncodeError:  # jupyter_server requires an ASCII salt too
        return False
    return hmac.compare_digest(expected, digest)


def describe_hash(hashed):
    """A short, secret-free description of a hash's form, for messages."""
    if not isinstance(hashed, str) or not hashed:
        return "empty"
    if hashed.startswith("argon2:$argon2"):
        return "Jupyter argon2"
    if hashed.startswith("$argon2"):
        return "bare argon2 (code-server form)"
    if hashed.startswith("sha1:"):
        return "Jupyter sha1"
    return "unrecognised"


def rehash_unless_matching(password, hash_format, algorithm, stored_hash):
    """hash_password for a hash read back from the cluster: one that may not be
    verified (an absurd argon2 cost; someone else wrote it) is replaced, not verified."""
    try:
        check_existing_hash(stored_hash)
    except PasswordHashError:
        stored_hash = None
    return hash_password(password, hash_format, algorithm, stored_hash or None)[0]


def hash_password(password, hash_format="jupyter", algorithm="argon2", existing_hash=None):
    """Return (hash, changed, note).

    Keeps existing_hash (changed False) when it is in the requested form and
    verifies against password; otherwise returns a new hash. note explains
    why an existing hash was replaced (None when there was nothing to say).
    """
    check_request(password, hash_format, algorithm)
    check_existing_hash(existing_hash)
    note = None
    if existing_hash:
        if verify_hash(existing_hash, password, hash_format, algorithm):
            return existing_hash, False, None
        wanted = {"jupyter": "Jupyter %s" % algorithm, "code_server": "bare argon2 (code-server form)"}[hash_format]
        found = describe_hash(existing_hash)
        if found != wanted:
            note = "existing_hash is a %s hash, not %s: made a new hash" % (found, wanted)
    return make_hash(password, hash_format, algorithm), True, note
