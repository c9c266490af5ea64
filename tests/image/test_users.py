"""The remotedev_users server extension: named users on one real jupyter
server process from the controller venv, over real HTTP and websockets.

One server for the module; the tests run in file order and share it (the
user removal and the login bound come last: they change its state)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import sys
import time
from pathlib import Path

import pytest
import requests
import websocket
from jupyter_server.auth.security import passwd

from jupyter_probe import KernelSocket, LocalServer, TerminalSocket, api

EXTENSION_SRC = Path(__file__).resolve().parents[2] / "roles/image/files/remotedev_users"
sys.path.insert(0, str(EXTENSION_SRC))
sys.dont_write_bytecode = True  # no __pycache__ in the role's files

import remotedev_users  # noqa: E402

RELOAD = 0.5  # UsersIdentityProvider.reload_interval of the test server
MAX_FAILURES = 6


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _account(name, role="user", password=None, token=None):
    return {
        "name": name,
        "role": role,
        "password_hash": passwd(password) if password else "",
        "token_sha256": hashlib.sha256(token.encode()).hexdigest() if token else "",
    }


# ------------------------------------------------------------ pure functions


@pytest.mark.parametrize("document, message", [
    ({}, "list 'users'"),
    ({"users": [{"name": "Ada", "role": "user", "token_sha256": "0" * 64}]}, "users[0].name"),
    ({"users": [{"name": "ada", "role": "root", "token_sha256": "0" * 64}]}, "users[0] (ada).role"),
    ({"users": [{"name": "ada", "role": "user"}]}, "neither"),
    ({"users": [{"name": "ada", "role": "user", "token_sha256": "secret-token"}]}, "token_sha256"),
    ({"users": [{"name": "ada", "role": "user", "password_hash": "sha1:ab:cd"}]}, "password_hash"),
    ({"users": [{"name": "ada", "role": "user", "token_sha256": "0" * 64}] * 2}, "twice"),
], ids=["no-list", "bad-name", "bad-role", "no-credential", "plain-token", "sha1", "duplicate"])
def test_parse_users_refuses(document, message):
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        remotedev_users.parse_users(document)
    assert "secret-token" not in str(info.value)


@pytest.mark.parametrize("role, action, resource, allowed", [
    ("admin", "write", "server", True),
    ("user", "execute", "kernels", True),
    ("user", "write", "contents", True),
    ("user", "write", "server", False),
    ("viewer", "read", "contents", True),
    ("viewer", "execute", "kernels", False),
    ("viewer", "write", "terminals", False),
    ("viewer", "write", "contents", False),
    (None, "read", "contents", False),
], ids=["admin-shutdown", "user-execute", "user-write", "user-shutdown", "viewer-read", "viewer-execute",
        "viewer-terminal", "viewer-write", "nobody"])
def test_roles(role, action, resource, allowed):
    assert remotedev_users.is_allowed(role, action, resource) is allowed


def test_password_match_refuses_ambiguity_and_unknown_names():
    accounts = remotedev_users.parse_users({"users": [
        _account("ada", password="same-password"), _account("bob", password="same-password"),
        _account("cyd", password="cyd-password")]})
    assert remotedev_users.match_password(accounts, "", "same-password") == (None, "ambiguous password")
    assert remotedev_users.match_password(accounts, "ada", "same-password")[0].name == "ada"
    assert remotedev_users.match_password(accounts, "", "cyd-password")[0].name == "cyd"
    assert remotedev_users.match_password(accounts, "nobody", "cyd-password") == (None, "bad credentials")
    assert remotedev_users.match_password(accounts, "ada", "cyd-password") == (None, "bad credentials")


def test_unknown_name_costs_an_argon2_verification():
    """A login naming an unknown user takes as long as a known one's."""
    accounts = remotedev_users.parse_users({"users": [_account("ada", password="ada-password")]})
    remotedev_users.match_password(accounts, "ada", "warm-up")

    def timed(name):
        start = time.perf_counter()
        remotedev_users.match_password(accounts, name, "wrong-password")
        return time.perf_counter() - start

    known, unknown = min(timed("ada") for _round in range(3)), min(timed("nobody") for _round in range(3))
    assert 0.5 < unknown / known < 2, f"known {known * 1e3:.1f} ms, unknown {unknown * 1e3:.1f} ms"


def test_failure_limiter_window():
    clock = _Clock()
    limiter = remotedev_users.FailureLimiter(2, 60, clock=clock)
    limiter.fail("a")
    assert not limiter.blocked("a")
    limiter.fail("a")
    assert limiter.blocked("a") and not limiter.blocked("b")
    clock.now += 61
    assert not limiter.blocked("a")


def test_users_file_reload_and_fail_closed(tmp_path, caplog):
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": [_account("ada", token="t-ada")]}))
    clock = _Clock()
    users = remotedev_users.UsersFile(str(path), 5, logging.getLogger("test"), clock=clock)
    assert list(users.accounts()) == ["ada"]
    path.write_text(json.dumps({"users": [_account("bob", token="t-bob")]}))
    assert list(users.accounts()) == ["ada"], "re-read before the interval"
    clock.now += 5
    assert list(users.accounts()) == ["bob"]
    path.write_text('{"users": [{"name": "bob", "token_sha256": "t-bob-secret"')
    clock.now += 5
    with caplog.at_level(logging.ERROR):
        assert users.accounts() == {}
    assert "not valid JSON" in caplog.text and "t-bob-secret" not in caplog.text
    path.unlink()
    clock.now += 5
    assert users.accounts() == {}


# ------------------------------------------------------------- real server

PASSWORDS = {"ada": "ada-password-1", "bob": "bob-password-2", "vic": "vic-password-3"}
TOKENS = {name: secrets.token_urlsafe(32) for name in PASSWORDS}
ROLES = {"ada": "user", "bob": "user", "vic": "viewer"}


def _write_users(path: Path, names) -> None:
    document = {"users": [_account(n, ROLES[n], PASSWORDS[n], TOKENS[n]) for n in names]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document))
    tmp.replace(path)  # atomic, as kubelet's symlink swap


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    users_file = tmp_path_factory.mktemp("users") / "users.json"
    _write_users(users_file, PASSWORDS)
    with LocalServer(
        extensions={"remotedev_users": True},
        extra_pythonpath=[str(EXTENSION_SRC)],
        extra_args=[
            "--ServerApp.identity_provider_class=remotedev_users.UsersIdentityProvider",
            "--ServerApp.authorizer_class=remotedev_users.RoleAuthorizer",
            f"--UsersIdentityProvider.users_file={users_file}",
            f"--UsersIdentityProvider.reload_interval={RELOAD}",
            f"--UsersIdentityProvider.max_login_failures={MAX_FAILURES}",
        ],
    ) as local:
        local.users_file = users_file
        yield local


def _me(server, session=None, token=None):
    headers = {"Authorization": f"token {token}"} if token else {}
    response = (session or requests).get(server.url + "api/me", headers=headers, timeout=10)
    return response.status_code, (response.json()["identity"] if response.status_code == 200 else None)


def _login(server, password, username=None):
    """The browser's (username and password) or VS Code's (password and _xsrf only) login."""
    session = requests.Session()
    session.get(server.url + "login", timeout=10).raise_for_status()
    form = {"password": password, "_xsrf": session.cookies["_xsrf"]}
    if username is not None:
        form["username"] = username
    response = session.post(server.url + "login", data=form, allow_redirects=False, timeout=30)
    return response, session


def test_extension_loads(server):
    assert "remotedev_users 1.0.0: audit of kernel starts and execute requests; identity provider UsersIdentityProvider" in server.log()
    assert "remotedev_users: 3 users from" in server.log()


def test_login_page_asks_for_a_user_name(server):
    page = requests.get(server.url + "login", timeout=10).text
    assert 'name="username"' in page and 'name="password"' in page and 'name="_xsrf"' in page


@pytest.mark.parametrize("name", list(PASSWORDS))
def test_token_identifies_the_user(server, name):
    status, identity = _me(server, token=TOKENS[name])
    assert status == 200 and identity["username"] == name and identity["role"] == ROLES[name]
    query = requests.get(server.url + "api/me", params={"token": TOKENS[name]}, timeout=10)
    assert query.status_code == 200 and query.json()["identity"]["username"] == name


@pytest.mark.parametrize("name", list(PASSWORDS))
def test_browser_login(server, name):
    response, session = _login(server, PASSWORDS[name], username=name)
    assert response.status_code == 302, response.text
    assert _me(server, session)[1]["username"] == name


@pytest.mark.parametrize("name", list(PASSWORDS))
def test_vscode_password_flow(server, name):
    response, session = _login(server, PASSWORDS[name])
    assert response.status_code == 302, response.text
    assert _me(server, session)[1]["username"] == name


def test_instance_token_is_an_admin(server):
    status, identity = _me(server, token=server.token)
    assert status == 200 and identity["username"] == "_instance" and identity["role"] == "admin"


def test_wrong_credentials_refused_alike(server):
    assert _me(server, token=TOKENS["ada"] + "x")[0] == 403
    assert _me(server)[0] == 403
    wrong_password = _login(server, "not-the-password", username="ada")[0]
    unknown_user = _login(server, PASSWORDS["ada"], username="nobody")[0]
    other_password = _login(server, PASSWORDS["bob"], username="ada")[0]
    assert wrong_password.status_code == unknown_user.status_code == other_password.status_code == 401
    # The same page whatever was wrong (the _xsrf field differs per session).
    pages = {re.sub(r'name="_xsrf" value="[^"]*"', "", r.text) for r in (wrong_password, unknown_user, other_password)}
    assert len(pages) == 1
    assert PASSWORDS["ada"] not in server.log() and TOKENS["ada"] not in server.log()


def test_viewer_reads_but_cannot_execute_write_or_open_terminals(server):
    viewer = {"Authorization": f"token {TOKENS['vic']}"}
    assert requests.get(server.url + "api/contents", headers=viewer, timeout=10).status_code == 200
    assert requests.get(server.url + "api/kernels", headers=viewer, timeout=10).status_code == 200
    assert requests.post(server.url + "api/kernels", headers=viewer, json={}, timeout=10).status_code == 403
    assert requests.post(server.url + "api/terminals", headers=viewer, timeout=10).status_code == 403
    put = requests.put(server.url + "api/contents/vic.txt", headers=viewer, timeout=10,
                       json={"type": "file", "format": "text", "content": "x"})
    assert put.status_code == 403
    with KernelSocket(server.url, TOKENS["ada"]) as kernel:
        ws_url = server.url.replace("http", "ws", 1) + f"api/kernels/{kernel.resource['id']}/channels"
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(ws_url, header=[f"Authorization: token {TOKENS['vic']}"], timeout=10)
        assert refused.value.status_code == 403
    me = requests.get(server.url + "api/me", headers=viewer, timeout=10,
                      params={"permissions": json.dumps({"kernels": ["read", "execute"], "terminals": ["write"]})})
    permissions = me.json()["permissions"]
    assert permissions["kernels"] == ["read"] and permissions["terminals"] == []
    assert "refused user=vic role=viewer action=execute resource=kernels" in server.log()


def test_users_run_code_and_kernels_name_them(server):
    with TerminalSocket(server.url, TOKENS["bob"]) as terminal:
        assert "bob-terminal" in terminal.run("echo bob-terminal")
    with KernelSocket(server.url, TOKENS["ada"]) as kernel, KernelSocket(server.url, TOKENS["bob"], protocol="v1") as other:
        assert kernel.execute("6*7")["result"] == "42"
        assert other.execute("6*8")["result"] == "48"
        # The kernel's environment names its user (kernel pods are labelled with it).
        assert kernel.execute("__import__('os').environ['KERNEL_USERNAME']")["result"] == "'ada'"
        assert other.execute("__import__('os').environ['KERNEL_USERNAME']")["result"] == "'bob'"
        owners = {k["id"]: k["remotedev_user"] for k in api(server.url, "api/kernels", TOKENS["ada"])}
        assert owners[kernel.resource["id"]] == "ada" and owners[other.resource["id"]] == "bob"
        log = server.log()
        assert f"remotedev_users audit: kernel_start user=ada kernel={kernel.resource['id']}" in log
        assert f"remotedev_users audit: execute user=ada kernel={kernel.resource['id']}" in log
        assert f"remotedev_users audit: execute user=bob kernel={other.resource['id']}" in log
    assert re.search(r"audit: login user=ada role=user method=password client=\S+", log)
    assert re.search(r"audit: login user=bob role=user method=token client=\S+", log)


def test_removed_user_refused_after_reload_others_keep_their_kernel(server):
    bob_browser = _login(server, PASSWORDS["bob"], username="bob")[1]
    assert _me(server, bob_browser)[1]["username"] == "bob"
    with KernelSocket(server.url, TOKENS["ada"]) as kernel:
        kernel.execute("kept = 41")
        _write_users(server.users_file, ["ada", "vic"])
        deadline = time.monotonic() + RELOAD * 10
        while _me(server, token=TOKENS["bob"])[0] == 200:
            assert time.monotonic() < deadline, "bob's token still accepted"
            time.sleep(0.1)
        assert _me(server, bob_browser)[0] == 403, "bob's login cookie still accepted"
        assert _login(server, PASSWORDS["bob"])[0].status_code == 401
        assert _me(server, token=TOKENS["ada"])[1]["username"] == "ada"
        assert kernel.execute("kept + 1")["result"] == "42"
    assert "remotedev_users: 2 users from" in server.log()


def test_rotated_password_ends_cookie_sessions(server):
    ada_browser = _login(server, PASSWORDS["ada"], username="ada")[1]
    assert _me(server, ada_browser)[0] == 200
    PASSWORDS["ada"] = "ada-password-rotated"
    _write_users(server.users_file, ["ada", "vic"])
    time.sleep(RELOAD * 2)
    assert _me(server, ada_browser)[0] == 403
    assert _login(server, PASSWORDS["ada"], username="ada")[0].status_code == 302


def test_failed_logins_are_bounded_per_client(server):
    statuses = [_login(server, "wrong-password", username="ada")[0].status_code for _attempt in range(MAX_FAILURES + 1)]
    assert statuses[-1] == 429, statuses
    assert _login(server, PASSWORDS["ada"], username="ada")[0].status_code == 429, "even the right password while blocked"
    assert "reason=too-many-failures" in server.log()
