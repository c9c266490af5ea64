# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _password: forms, parameters, verification, idempotency.

The functional tests (tests/functional) check the same hashes with
jupyter_server's passwd_check and code-server's npm argon2 verifier.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils._password import (
    CODE_SERVER_ARGON2_PARAMETERS,
    JUPYTER_ARGON2_PARAMETERS,
    PasswordHashError,
    check_request,
    describe_hash,
    hash_password,
    hash_problem,
    make_hash,
    verify_hash,
)

PHC = r"\$argon2id\$v=19\$m=%d,t=%d,p=%d\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}"


def test_jupyter_argon2_form_and_parameters():
    hashed = make_hash("s3cret", "jupyter", "argon2")
    params = JUPYTER_ARGON2_PARAMETERS
    assert re.fullmatch("argon2:" + PHC % (params["memory_cost"], params["time_cost"], params["parallelism"]), hashed)
    # The values jupyter_server.auth.security.passwd uses.
    assert (params["memory_cost"], params["time_cost"], params["parallelism"]) == (10240, 10, 8)


def test_code_server_form_and_parameters():
    hashed = make_hash("s3cret", "code_server", "argon2")
    # npm argon2 defaults: argon2id, 64 MiB, 3 passes, 4 lanes, 16-byte salt (22 b64 chars), 32-byte hash (43).
    assert re.fullmatch(PHC % (65536, 3, 4), hashed)
    assert CODE_SERVER_ARGON2_PARAMETERS["hash_len"] == 32
    assert CODE_SERVER_ARGON2_PARAMETERS["salt_len"] == 16


def test_sha1_form_matches_jupyter_definition():
    hashed = make_hash("pässword", "jupyter", "sha1")
    algorithm, salt, digest = hashed.split(":")
    assert algorithm == "sha1"
    assert re.fullmatch("[0-9a-f]{12}", salt)
    assert digest == hashlib.sha1("pässword".encode("utf-8") + salt.encode("ascii")).hexdigest()


def test_known_sha1_vector_from_jupyter_docs():
    # The doctest example of jupyter_server.auth.security.passwd_check.
    assert verify_hash("sha1:0e112c3ddfce:a68df677475c2b47b6e86d0467eec97ac5f4b85a", "mypassword", "jupyter", "sha1")
    assert not verify_hash("sha1:0e112c3ddfce:a68df677475c2b47b6e86d0467eec97ac5f4b85a", "otherpassword",
                           "jupyter", "sha1")


@pytest.mark.parametrize("hash_format,algorithm", [("jupyter", "argon2"), ("jupyter", "sha1"), ("code_server", "argon2")])
def test_salted_and_verifiable(hash_format, algorithm):
    first = make_hash("same password", hash_format, algorithm)
    second = make_hash("same password", hash_format, algorithm)
    assert first != second
    assert verify_hash(first, "same password", hash_format, algorithm)
    assert not verify_hash(first, "same passwore", hash_format, algorithm)
    assert not verify_hash(first, "", hash_format, algorithm)


@pytest.mark.parametrize("password", ["ünïcødé ✓", "with\nnewline", "  spaces  ", "x" * 1000, "quote\"'`$"])
def test_unusual_passwords_round_trip(password):
    for hash_format, algorithm in [("jupyter", "argon2"), ("jupyter", "sha1"), ("code_server", "argon2")]:
        assert verify_hash(make_hash(password, hash_format, algorithm), password, hash_format, algorithm)


def test_existing_hash_kept_when_it_verifies():
    existing = make_hash("pw", "jupyter", "argon2")
    hashed, changed, note = hash_password("pw", "jupyter", "argon2", existing)
    assert (hashed, changed, note) == (existing, False, None)


def test_existing_hash_replaced_when_password_changed():
    existing = make_hash("old", "jupyter", "argon2")
    hashed, changed, note = hash_password("new", "jupyter", "argon2", existing)
    assert changed and hashed != existing and note is None
    assert verify_hash(hashed, "new")


@pytest.mark.parametrize("existing_args,wanted_args", [
    (("jupyter", "sha1"), ("jupyter", "argon2")),          # upgrade a legacy hash
    (("code_server", "argon2"), ("jupyter", "argon2")),    # bare PHC is not the Jupyter form
    (("jupyter", "argon2"), ("code_server", "argon2")),    # prefixed form is not code-server's
    (("jupyter", "argon2"), ("jupyter", "sha1")),
])
def test_existing_hash_of_another_form_is_replaced(existing_args, wanted_args):
    existing = make_hash("pw", *existing_args)
    hashed, changed, note = hash_password("pw", wanted_args[0], wanted_args[1], existing)
    assert changed
    assert hashed != existing
    assert verify_hash(hashed, "pw", *wanted_args)
    assert note and "made a new hash" in note
    assert "pw" not in note.replace("password", "")


@pytest.mark.parametrize("garbage", ["", "argon2:", "argon2:$argon2id$garbage", "sha1:", "sha1:salt:", "sha1:s\u00e4lt:00",
                                     "$argon2id$v=19$m=1,t=1,p=1$x$y", "plaintext", "md5:a:b"])
def test_garbage_existing_hash_never_verifies(garbage):
    for hash_format, algorithm in [("jupyter", "argon2"), ("jupyter", "sha1"), ("code_server", "argon2")]:
        assert not verify_hash(garbage, "pw", hash_format, algorithm)
    hashed, changed, _note = hash_password("pw", "jupyter", "argon2", garbage)
    assert changed and verify_hash(hashed, "pw")


@pytest.mark.parametrize("args,message", [
    (("", "jupyter", "argon2"), "password must not be empty"),
    (("pw", "code_server", "sha1"), "algorithm=sha1 is only available with format=jupyter"),
    (("pw", "htpasswd", "argon2"), "format must be one of"),
    (("pw", "jupyter", "md5"), "algorithm must be one of"),
    ((None, "jupyter", "argon2"), "password must be a string"),
])
def test_bad_requests_name_the_option(args, message):
    with pytest.raises(PasswordHashError, match=re.escape(message)):
        check_request(*args)
    with pytest.raises(PasswordHashError):
        hash_password(*args)


def test_describe_hash_reveals_no_secret():
    assert describe_hash(make_hash("pw", "jupyter", "argon2")) == "Jupyter argon2"
    assert describe_hash(make_hash("pw", "code_server", "argon2")) == "bare argon2 (code-server form)"
    assert describe_hash(make_hash("pw", "jupyter", "sha1")) == "Jupyter sha1"
    assert describe_hash("secret-looking-value") == "unrecognised"


# ---------------------------------------------------------------- hashes given by users


ABSURD = "$argon2id$v=19$m=4194304,t=1000,p=8$c2FsdHNhbHQ$aGFzaGhhc2g"


def test_hashes_the_modules_make_are_accepted():
    assert hash_problem(make_hash("password-1")) == ""
    assert hash_problem(make_hash("password-1", algorithm="sha1")) == ""
    assert hash_problem(make_hash("password-1", "code_server"), "code_server") == ""
    assert hash_problem("sha256:salt:" + hashlib.sha256(b"x").hexdigest()) == ""  # passwd_check takes any hashlib algorithm
    assert hash_problem(hashlib.sha256(b"x").hexdigest(), "code_server") == ""  # code-server's legacy SHA-256


@pytest.mark.parametrize("hashed,hash_format,fragment", [
    ("nonsense", "jupyter", "has no ':'"),
    ("argon2:$argon2id$short", "jupyter", "not an argon2 PHC string"),
    ("argon2:" + ABSURD, "jupyter", "argon2 cost (m=4194304 KiB, t=1000, p=8) is above"),
    ("sha1:salt:1234", "jupyter", "a sha1 hash is sha1:<salt>:<40 hex digits>"),
    ("sha1::" + "a" * 40, "jupyter", "a sha1 hash is"),
    ("rot13:a:b", "jupyter", '"rot13" is not an algorithm'),
    ("shake_128:a:b", "jupyter", "no fixed digest size"),
    ("argon2:" + ABSURD[:-1] + "\n", "jupyter", "not an argon2 PHC string"),
    ("argon2:$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "code_server", "code-server takes a bare argon2"),
    (ABSURD, "code_server", "argon2 cost"),
    ("", "jupyter", "empty"),
    (None, "code_server", "empty"),
], ids=["no-colon", "short-argon2", "absurd-cost", "short-digest", "empty-salt", "unknown-algorithm", "shake", "newline",
        "jupyter-form-for-code-server", "absurd-code-server", "empty", "none"])
def test_hash_problem(hashed, hash_format, fragment):
    reason = hash_problem(hashed, hash_format)
    assert fragment in reason
    assert not hashed or hashed not in reason  # never shown


def test_absurd_existing_hash_refused_before_verifying():
    """Verifying it would take minutes and 4 GiB; the refusal is instant."""
    for hashed, hash_format in (("argon2:" + ABSURD, "jupyter"), (ABSURD, "code_server")):
        with pytest.raises(PasswordHashError, match="existing_hash: its argon2 cost"):
            hash_password("password-1", hash_format, "argon2", hashed)


@pytest.mark.parametrize("password,kind", [({"a": 1}, "mapping"), (["pw"], "list"), (12345678, "number"), (True, "boolean")],
                         ids=["mapping", "list", "number", "boolean"])
def test_non_string_password_refused_not_its_repr(password, kind):
    with pytest.raises(PasswordHashError) as info:
        hash_password(password)
    assert str(info.value) == "password must be a string, not a %s" % kind
    with pytest.raises(PasswordHashError, match="existing_hash must be a string, not a %s" % kind):
        hash_password("password-1", existing_hash=password)
