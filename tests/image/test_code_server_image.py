"""The code-server image, built offline by the role (Node.js and code-server
staged with npm on the host), pushed to the local registry, pulled back and
run: `code-server --version`, then the server itself as uid 1000 under tini."""

from __future__ import annotations

import time
import urllib.request
import uuid

import pytest

from conftest import RUN_ID, assert_built_and_pushed_once, build_push_pull
from jupyter_probe import free_port

NODE_VERSION = "24.21.0"
CODE_SERVER_VERSION = "4.139.1"


@pytest.fixture(scope="module")
def built(registry, base_image):
    variables = {
        "image_kind": "code_server",
        "image_builder": "podman",
        "image_code_server_base_image": base_image,
        "image_code_server_version": CODE_SERVER_VERSION,
        "image_code_server_node_version": NODE_VERSION,
        "image_registry": registry,
        "image_registry_tls": False,
        "image_push": True,
        "image_repository": f"remotedev-test/{RUN_ID}/code-server",
    }
    return build_push_pull(variables, timeout=5400)


def test_built_and_pushed_once(built):
    assert_built_and_pushed_once(built)


def test_code_server_version_runs_inside(built):
    engine, ref = built["engine"], built["ref"]
    version = engine("run", "--rm", ref, "code-server", "--version").stdout.strip().splitlines()[-1]
    assert version.startswith(f"{CODE_SERVER_VERSION} "), version
    assert engine("run", "--rm", ref, "node", "--version").stdout.strip() == f"v{NODE_VERSION}"
    assert engine("run", "--rm", ref, "id", "-u").stdout.strip() == "1000"


def test_code_server_serves_as_uid_1000_under_tini(built):
    """The image's own command (all interfaces, port 8080) in its own network
    namespace, published on a free port; read-only root, HOME and /tmp
    writable as in a pod."""
    engine, ref = built["engine"], built["ref"]
    port = free_port()
    name = f"code-server-test-{uuid.uuid4().hex[:8]}"
    engine("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", "--read-only",
           "--tmpfs", "/tmp:rw,mode=1777", "--tmpfs", "/home/coder:rw,mode=2775,U", ref)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(engine("logs", name, check=False).stderr[-3000:]) from None
                time.sleep(1)
        assert engine("exec", name, "cat", "/proc/1/comm").stdout.strip() == "tini"
        uids = {line.strip() for line in engine("exec", name, "ps", "-eo", "uid=").stdout.splitlines() if line.strip()}
        assert uids == {"1000"}
        result = engine("healthcheck", "run", name, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        engine("rm", "-f", name, check=False)
