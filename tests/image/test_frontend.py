"""The standalone frontend (roles/image/files/frontend) without a cluster:
its bundle built by the role's own staging script (npm ci, esbuild), its
proxy (node server.js) in front of a real local jupyter server, and headless
Chromium (tests/e2e/node/frontend_check.mjs) logging in through the server's
own login page and using the page: a cell that prints, one that shows an image
and HTML, an error, an interrupt, a restart, save and open. The notebook is
then read back from the contents API with the server's token, not through the
page. Screenshots are kept in tests/output/frontend/.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
import requests
from jupyter_server.auth.security import passwd

from jupyter_probe import LocalServer, api, free_port

REPO = Path(__file__).resolve().parents[2]
FRONTEND_SRC = REPO / "roles/image/files/frontend"
STAGE = REPO / "roles/image/files/stage-frontend.sh"
USERS_SRC = REPO / "roles/image/files/remotedev_users"
E2E = REPO / "tests/e2e/node"
ARTIFACTS = REPO / "tests/output/frontend"
NODE = shutil.which("node") or "node"


def page_host() -> str:
    """A non-loopback address of this machine when it has one: there the page
    is not a secure context (plain HTTP, not localhost), as in a cluster,
    where APIs such as crypto.randomUUID are missing."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        lines = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True,
                               timeout=10, check=True).stdout.splitlines()
        for line in lines:
            return line.split()[3].split("/")[0]
    return "127.0.0.1"


# The server behind the proxy sees the page's Host (this address), as a
# server in a pod does: it must accept requests for a non-local Host.
REMOTE = ["--ServerApp.allow_remote_access=True"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """frontend/ (server.js, app/) as the image gets it, built with the host's Node.js."""
    work = tmp_path_factory.mktemp("frontend")
    result = subprocess.run([STAGE, FRONTEND_SRC, work / "frontend.tar", "-"], capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    with tarfile.open(work / "frontend.tar") as tar:
        assert sorted(m.name for m in tar.getmembers() if m.name.count("/") <= 1 and m.isfile()) == [
            "frontend/server.js", "frontend/server.js.LEGAL.txt"]
        tar.extractall(work, filter="data")
    return work / "frontend"


@contextlib.contextmanager
def frontend_proxy(bundle: Path, upstream: str, **env):
    port = free_port()
    host = page_host()
    environment = {**os.environ, "FRONTEND_UPSTREAM": upstream, "FRONTEND_HOST": host,
                   "FRONTEND_PORT": str(port), **env}
    log = bundle.parent / f"proxy-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([NODE, bundle / "server.js"], env=environment, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://{host}:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "frontend/healthz", timeout=2) as response:
                    assert response.read() == b"ok\n"
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the proxy did not start: {log.read_text()}") from None
                time.sleep(0.1)
        process.log = log
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def browser_check(url: str, password: str, notebook: str, kernel: str, outdir: Path, username: str = "", **env):
    secret = outdir / ".password"
    outdir.mkdir(parents=True, exist_ok=True)
    secret.write_text(password)
    secret.chmod(0o600)
    env = {**os.environ, "FRONTEND_PASSWORD_FILE": str(secret), "FRONTEND_USERNAME": username, **env}
    try:
        return subprocess.run([NODE, E2E / "frontend_check.mjs", url, outdir, kernel, notebook], env=env,
                              capture_output=True, text=True, timeout=600, check=False)
    finally:
        secret.unlink()


def kernel_display_name(server, token: str) -> str:
    specs = api(server.url, "api/kernelspecs", token)
    return specs["kernelspecs"][specs["default"]]["spec"]["display_name"]


def assert_saved_notebook(server, token: str, path: str) -> None:
    """What the page saved, as the contents API returns it to another client."""
    model = api(server.url, f"api/contents/{path}", token)
    assert model["type"] == "notebook" and model["format"] == "json"
    notebook = model["content"]
    assert notebook["nbformat"] == 4 and notebook["metadata"]["kernelspec"]["name"]
    cells = notebook["cells"]
    assert [cell["cell_type"] for cell in cells] == ["code"] * 5
    printed, image, error, interrupted, probe = cells
    assert printed["source"] == 'marker = 6 * 7; print(f"frontend-{marker}")'
    assert printed["execution_count"] == 1
    assert printed["outputs"] == [{"name": "stdout", "output_type": "stream", "text": "frontend-42\n"}]
    kinds = [next(iter(sorted(set(output["data"]) - {"text/plain"}))) for output in image["outputs"]]
    assert kinds == ["image/png", "text/html"]
    assert image["outputs"][1]["data"]["text/html"] == '<b class="rdf-html-probe">html-42</b>'
    assert error["outputs"][0]["ename"] == "ZeroDivisionError"
    assert interrupted["outputs"][0]["ename"] == "KeyboardInterrupt"
    # After the restart the kernel counts from 1 again and forgot `marker`.
    assert probe["execution_count"] == 1 and probe["outputs"][0]["text"] == "False\n"


def test_browser_with_the_instance_token(bundle):
    """Login with the instance token in the server's login form (no named users)."""
    with LocalServer(extra_args=REMOTE) as server, frontend_proxy(bundle, server.url) as (url, proxy):
        result = browser_check(url, server.token, "frontend-token.ipynb", kernel_display_name(server, server.token),
                               ARTIFACTS / "token")
        assert result.returncode == 0, f"{result.stderr[-3000:]}\nproxy: {proxy.log.read_text()[-2000:]}"
        report = json.loads(result.stdout.splitlines()[-1])
        assert report["image"] == "48x48" and report["kernelSocketFrames"] > 0
        assert report["page"].startswith(f"{url}frontend/")
        assert_saved_notebook(server, server.token, "frontend-token.ipynb")
        for shot in report["screenshots"]:
            assert Path(shot).stat().st_size > 10000, shot
        # Only the method and path of a failed request are ever logged, never a credential.
        assert server.token not in proxy.log.read_text()


@pytest.fixture(scope="module")
def users_server(tmp_path_factory):
    password, token = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
    users_file = tmp_path_factory.mktemp("users") / "users.json"
    users_file.write_text(json.dumps({"users": [{
        "name": "ada", "role": "user", "password_hash": passwd(password),
        "token_sha256": hashlib.sha256(token.encode()).hexdigest()}]}))
    with LocalServer(
        extensions={"remotedev_users": True},
        extra_pythonpath=[str(USERS_SRC)],
        extra_args=[
            "--ServerApp.identity_provider_class=remotedev_users.UsersIdentityProvider",
            "--ServerApp.authorizer_class=remotedev_users.RoleAuthorizer",
            f"--UsersIdentityProvider.users_file={users_file}",
            *REMOTE,
        ],
    ) as server:
        server.user_password, server.user_token = password, token
        yield server


def test_browser_as_a_named_user(bundle, users_server):
    """Login with a user name and password on the named users' login form."""
    server = users_server
    with frontend_proxy(bundle, server.url) as (url, proxy):
        result = browser_check(url, server.user_password, "frontend-ada.ipynb",
                               kernel_display_name(server, server.user_token), ARTIFACTS / "named-user", username="ada")
        assert result.returncode == 0, f"{result.stderr[-3000:]}\nproxy: {proxy.log.read_text()[-2000:]}"
        assert json.loads(result.stdout.splitlines()[-1])["user"] == "ada"
        assert_saved_notebook(server, server.user_token, "frontend-ada.ipynb")
    assert "audit: login user=ada role=user method=password" in server.log()


def test_xsrf_stays_on_through_the_proxy(bundle, users_server):
    """The proxy passes the login cookie and the _xsrf flow unchanged: a
    cookie-authenticated write without the X-XSRFToken header is refused by
    the server, with it accepted."""
    server = users_server
    with frontend_proxy(bundle, server.url) as (url, _proxy):
        session = requests.Session()
        session.get(url + "login", timeout=10).raise_for_status()
        xsrf = session.cookies["_xsrf"]
        response = session.post(url + "login", data={"username": "ada", "password": server.user_password, "_xsrf": xsrf},
                                allow_redirects=False, timeout=30)
        assert response.status_code == 302
        assert session.get(url + "api/me", timeout=10).json()["identity"]["username"] == "ada"
        body = {"type": "directory"}
        assert session.put(url + "api/contents/xsrf-probe", json=body, timeout=10).status_code == 403
        created = session.put(url + "api/contents/xsrf-probe", json=body, headers={"X-XSRFToken": xsrf}, timeout=10)
        assert created.status_code == 201, created.text


def test_page_and_proxy_behaviour(bundle):
    with LocalServer(extra_args=REMOTE) as server, frontend_proxy(bundle, server.url) as (url, _proxy):
        root = requests.get(url, allow_redirects=False, timeout=10)
        assert root.status_code == 302 and root.headers["Location"] == "/frontend/"
        page = requests.get(url + "frontend/", timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        # Everything the page loads is its own (no CDN): relative URLs only.
        assert 'src="app.js"' in page.text and 'href="app.css"' in page.text and "//" not in page.text
        assert requests.get(url + "frontend/app.js", timeout=10).headers["Content-Type"].startswith("text/javascript")
        assert requests.get(url + "frontend/../../etc/passwd", timeout=10).status_code in (404, 302)
        assert requests.get(url + "frontend/nothing.js", timeout=10).status_code == 404
        assert requests.post(url + "frontend/index.html", timeout=10).status_code == 405
        # Anything else is the server's, unauthenticated API answers included.
        assert requests.get(url + "api", timeout=10).json()["version"]
        assert requests.get(url + "api/kernels", timeout=10).status_code == 403
    port = free_port()
    with frontend_proxy(bundle, f"http://127.0.0.1:{port}") as (url, proxy):
        down = requests.get(url + "api/kernels", timeout=10)
        assert down.status_code == 502 and "cannot be reached" in down.text
        assert "upstream error on GET /api/kernels: ECONNREFUSED" in proxy.log.read_text()


@pytest.mark.parametrize("env, message", [
    ({}, "FRONTEND_UPSTREAM (the Jupyter Server URL) is not set"),
    ({"FRONTEND_UPSTREAM": "ftp://jupyter:21"}, "FRONTEND_UPSTREAM: not an http(s) URL"),
    ({"FRONTEND_UPSTREAM": "http://jupyter:8888", "FRONTEND_BASE_URL": "/a b/"}, "FRONTEND_BASE_URL: not a URL path"),
], ids=["no-upstream", "not-http", "bad-base-url"])
def test_proxy_refuses_bad_settings(bundle, env, message):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRONTEND_")}
    result = subprocess.run([NODE, bundle / "server.js"], env={**clean, "FRONTEND_PORT": "0", **env},
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_check_fails_without_the_page(bundle):
    """The browser check can fail: against the server itself (no frontend in
    front of it) it logs in but never finds the page."""
    with LocalServer() as server:
        result = browser_check(server.url, server.token, "never.ipynb", kernel_display_name(server, server.token),
                               ARTIFACTS / "no-page", BROWSER_CHECK_TIMEOUT_MS="15000")
    assert result.returncode == 1
    assert "frontend_check:" in result.stderr, result.stderr[-2000:]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
