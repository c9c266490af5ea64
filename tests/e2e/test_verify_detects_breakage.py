"""Molecule's verify must fail, and say what is wrong, on a broken deployment.

Runs after `molecule test` (make test-molecule): converges the default
scenario again, checks that verify passes on it, then breaks one thing at a
time and runs verify again:

- the token in the Jupyter Server's Secret no longer matches the running
  server (as after a botched manual edit);
- the server lacks a kernel the inventory configured for the image.

The deployment is destroyed (purged) at the end.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[2]
MOLECULE = Path(sys.executable).parent / "molecule"
NAMESPACE = "remotedev-molecule"
SECRET = "jupyter-molecule"


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BOX = re.compile(r"^\s*[\u2500-\u257f]+", re.M)


def flat(output: str) -> str:
    """Molecule wraps playbook output in a box at the terminal's width, even
    inside words: drop the colours, the box and all whitespace."""
    return "".join(BOX.sub("", ANSI.sub("", output)).split())


def says(output: str, phrase: str) -> bool:
    """Whether the flattened output holds the phrase (compared without whitespace)."""
    return "".join(phrase.split()) in output


def molecule(action: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a molecule action of the default scenario; its output, flattened, is
    kept for the asserts."""
    run_env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", **env)
    result = subprocess.run(
        [str(MOLECULE), action],
        cwd=REPO,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1800,
        check=False,
    )
    result.stdout = flat(result.stdout)
    return result


def fast_verify(**env: str) -> subprocess.CompletedProcess[str]:
    """verify without the browser round trips, which these breakages do not concern."""
    return molecule("verify", REMOTEDEV_VERIFY_SKIP_BROWSER="1", **env)


@pytest.fixture(scope="module")
def core() -> client.CoreV1Api:
    config.load_kube_config()
    return client.CoreV1Api()


@pytest.fixture(scope="module", autouse=True)
def deployment():
    converged = molecule("converge")
    assert converged.returncode == 0, converged.stdout[-6000:]
    yield
    destroyed = molecule("destroy")
    assert destroyed.returncode == 0, destroyed.stdout[-6000:]


def test_verify_passes_on_the_healthy_deployment():
    result = fast_verify()
    assert result.returncode == 0, result.stdout[-6000:]


def test_wrong_token_in_the_secret_fails_verify_with_the_reason(core: client.CoreV1Api):
    secret = core.read_namespaced_secret(SECRET, NAMESPACE)
    original = secret.data["token"]
    wrong = base64.b64encode(b"not-the-token-the-server-runs-with").decode()
    core.patch_namespaced_secret(SECRET, NAMESPACE, {"data": {"token": wrong}})
    try:
        result = fast_verify()
    finally:
        core.patch_namespaced_secret(SECRET, NAMESPACE, {"data": {"token": original}})
    assert result.returncode != 0, "verify passed although the Secret holds a wrong token"
    assert says(result.stdout, "does not open /api/status (HTTP 403)"), result.stdout[-6000:]
    assert says(result.stdout, "the Secret and the running server disagree")
    # The token (right or wrong) is not printed.
    assert not says(result.stdout, base64.b64decode(original).decode())
    assert not says(result.stdout, "not-the-token-the-server-runs-with")


def test_kernel_missing_from_the_image_fails_verify_with_the_reason():
    result = fast_verify(REMOTEDEV_VERIFY_EXTRA_KERNELS="ghost")
    assert result.returncode != 0, "verify passed although a configured kernel is missing"
    assert says(result.stdout, "missing ghost"), result.stdout[-6000:]
