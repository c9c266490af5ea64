"""The frontend image, built offline by the role (the bundle made with npm ci
and esbuild, Node.js staged with npm on the host), pushed to the local
registry, pulled back and run as in a pod (read-only root, uid 1000 under
tini, no writable directory at all); then headless Chromium uses the page
through the container's proxy against a real local jupyter server."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest

import yaml

from conftest import REGISTRY, REPO, RUN_ID, assert_built_and_pushed_once, build_push_pull
from jupyter_probe import LocalServer, api, free_port
from test_frontend import ARTIFACTS, assert_saved_notebook, browser_check, kernel_display_name

NODE_VERSION = "24.21.0"


@pytest.fixture(scope="module")
def built(registry, base_image):
    variables = {
        "image_kind": "frontend",
        "image_builder": "podman",
        "image_frontend_base_image": base_image,
        "image_frontend_node_version": NODE_VERSION,
        "image_registry": registry,
        "image_registry_tls": False,
        "image_push": True,
        "image_repository": f"remotedev-test/{RUN_ID}/frontend",
    }
    return build_push_pull(variables, timeout=1800)


def test_molecule_builds_this_image():
    """Molecule's prepare builds the frontend image with podman from its
    inventory; with the same settings as the build here (the local Debian
    base, the role's Node.js), every layer is in podman's cache by then (one
    image build per run)."""
    scenario = yaml.safe_load((REPO / "extensions/molecule/default/molecule.yml").read_text())
    inventory = scenario["provisioner"]["inventory"]["group_vars"]["all"]
    assert inventory.get("image_frontend_base_image") == f"{REGISTRY}/remotedev/debian:bookworm"
    assert inventory["image_builder"] == "podman"
    assert not [name for name in inventory if name.startswith("image_frontend_") and name != "image_frontend_base_image"]
    defaults = yaml.safe_load((REPO / "roles/image/defaults/main.yml").read_text())
    assert defaults["image_frontend_node_version"] == NODE_VERSION


def test_built_and_pushed_once(built):
    assert_built_and_pushed_once(built)


def test_node_and_user_inside(built):
    engine, ref = built["engine"], built["ref"]
    assert engine("run", "--rm", ref, "node", "--version").stdout.strip() == f"v{NODE_VERSION}"
    assert engine("run", "--rm", ref, "id", "-u").stdout.strip() == "1000"
    # Nothing of the image belongs to its user: a compromised proxy cannot change the page.
    owned = engine("run", "--rm", ref, "find", "/opt/frontend", "-user", "1000").stdout.strip()
    assert owned == ""


def test_serves_the_page_read_only_under_tini(built):
    """The image's own command with a read-only root and no tmpfs at all,
    host network (to reach the local server); Chromium uses the page."""
    engine, ref = built["engine"], built["ref"]
    with LocalServer() as server:
        port = free_port()
        name = f"frontend-test-{uuid.uuid4().hex[:8]}"
        engine("run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop", "ALL",
               "--security-opt", "no-new-privileges", "-e", f"FRONTEND_UPSTREAM={server.url}",
               "-e", "FRONTEND_HOST=127.0.0.1", "-e", f"FRONTEND_PORT={port}", ref)
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(url + "frontend/healthz", timeout=5) as response:
                        assert response.status == 200
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError(engine("logs", name, check=False).stderr[-3000:]) from None
                    time.sleep(0.5)
            assert engine("exec", name, "cat", "/proc/1/comm").stdout.strip() == "tini"
            uids = {line.strip() for line in engine("exec", name, "ps", "-eo", "uid=").stdout.splitlines() if line.strip()}
            assert uids == {"1000"}
            result = browser_check(url, server.token, "frontend-image.ipynb", kernel_display_name(server, server.token),
                                   ARTIFACTS / "image")
            logs = engine("logs", name, check=False)
            assert result.returncode == 0, f"{result.stderr[-3000:]}\ncontainer: {logs.stdout[-1500:]}{logs.stderr[-1500:]}"
            assert json.loads(result.stdout.splitlines()[-1])["kernelSocketFrames"] > 0
            assert_saved_notebook(server, server.token, "frontend-image.ipynb")
            assert server.token not in logs.stdout + logs.stderr
            assert api(server.url, "api/contents/frontend-image.ipynb", server.token)["type"] == "notebook"
            healthcheck = engine("healthcheck", "run", name, check=False)
            assert healthcheck.returncode == 0, healthcheck.stdout + healthcheck.stderr
        finally:
            engine("rm", "-f", name, check=False)
