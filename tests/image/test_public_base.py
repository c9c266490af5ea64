"""Opt-in (make test-image-public-base): the jupyter image built by the role
from a base like the public Debian image the role defaults to, which has
neither python3 nor tini. The base here is a bare debootstrap minbase
(scripts/debian-base-image with no extra package), since no image can be
pulled on this machine; it keeps debootstrap's apt source, this machine's
Debian mirror. The build installs what the base lacks from there, and the
image then runs as uid 1000 under tini with a working kernel.

Not part of make test: the apt step and a build from scratch take minutes
(README, Tests)."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from conftest import REPO, RUN_ID, Engine, run, run_role
from jupyter_probe import KernelSocket, api, free_port, wait_for_api

pytestmark = pytest.mark.skipif(not os.environ.get("REMOTEDEV_PUBLIC_BASE_TEST"),
                                reason="opt-in: make test-image-public-base")


@pytest.fixture(scope="module")
def bare_base() -> str:
    made = run([REPO / "scripts/debian-base-image"], timeout=1800,
               env={"BASE_IMAGE_NAME": "remotedev-test/debian-bare", "BASE_IMAGE_PACKAGES": ""})
    ref = made.stdout.strip().splitlines()[-1]
    # What the public base lacks, and what the role's Containerfile needs.
    lacks = run(["podman", "run", "--rm", "--network", "none", ref, "bash", "-c",
                 "for c in python3 tini; do command -v $c && exit 1; done; dpkg-query -W python3 tini"], check=False)
    assert lacks.returncode != 0 and "/" not in lacks.stdout, lacks.stdout + lacks.stderr
    return ref


@pytest.fixture(scope="module")
def built(bare_base):
    variables = {
        "image_builder": "podman",
        "image_pip_base_image": bare_base,
        "image_repository": f"remotedev-test/{RUN_ID}/jupyter-public-base",
    }
    started = time.monotonic()
    first = run_role(variables)
    seconds = time.monotonic() - started
    assert first.rc == 0, first.failure or first.output[-3000:]
    print(f"\n[public base] role run with the apt step {seconds:.1f} s")
    return {"vars": variables, "first": first}


def test_build_installs_what_the_base_lacks(built):
    assert built["first"].ran("Build with podman:")
    ref = built["first"].facts["ref"]
    installed = run(["podman", "run", "--rm", "--network", "none", "--entrypoint", "dpkg-query", ref,
                     "-W", "-f", "${Package}\\n", "python3", "python3-venv", "tini", "ca-certificates"])
    assert sorted(installed.stdout.split()) == ["ca-certificates", "python3", "python3-venv", "tini"]


@pytest.fixture(scope="module")
def container(built):
    engine, ref = Engine("podman"), built["first"].facts["ref"]
    port, token, name = free_port(), uuid.uuid4().hex, f"jupyter-public-base-{uuid.uuid4().hex[:8]}"
    engine("run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp:rw,mode=1777",
           "--tmpfs", "/home/jovyan:rw,mode=2775,U", ref, "jupyter", "server", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}")
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_api(url, timeout=90)
    except Exception:
        print(engine("logs", name, check=False).stderr[-3000:])
        engine("rm", "-f", name, check=False)
        raise
    yield {"engine": engine, "name": name, "url": url, "token": token}
    engine("rm", "-f", name, check=False)
    engine("rmi", ref, check=False)


def test_runs_under_tini_as_uid_1000_with_its_kernel(container):
    engine, name = container["engine"], container["name"]
    assert engine("exec", name, "cat", "/proc/1/comm").stdout.strip() == "tini"
    assert engine("exec", name, "id", "-u").stdout.strip() == "1000"
    # apt left nothing behind for the image.
    assert engine("exec", name, "bash", "-c", "ls /var/lib/apt/lists | grep -v -e '^lock$' -e '^partial$'",
                  check=False).stdout == ""
    assert set(api(container["url"], "api/kernelspecs", container["token"])["kernelspecs"]) == {"python3"}
    with KernelSocket(container["url"], container["token"], "python3") as socket:
        out = socket.execute("import sys\nprint(sys.executable, sys.version_info[:2])")
    assert out["status"] == "ok", out
    assert out["stdout"].strip() == "/opt/kernels/python3/bin/python (3, 11)"
    assert engine("healthcheck", "run", name, check=False).returncode == 0
