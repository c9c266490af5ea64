"""Fixtures of the image tests: the real local registry, Debian's dockerd
started by hand, the debootstrap base image, and a runner for the image role
through ansible-playbook (tests/support/playbook.py).

Everything is real: images are built by the role with podman and with dockerd,
pushed to the registry on 127.0.0.1:5000, pulled back and run.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.playbook import CACHE_DIR, PlaybookRun, run_playbook  # noqa: E402  pylint: disable=unused-import

REGISTRY = os.environ.get("REMOTEDEV_REGISTRY", "127.0.0.1:5000")
DOCKER_HOST = "unix:///run/remotedev-dockerd.sock"
# One namespace per test session in the registry, so runs never see each
# other's tags (the content-addressed tags would otherwise make a second
# session skip every build).
RUN_ID = os.environ.get("REMOTEDEV_IMAGE_TEST_RUN") or time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]


def run(args, check=True, env=None, timeout=None, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
        )
    return result


def free_port_pair() -> tuple[int, int]:
    from jupyter_probe import free_port

    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


@pytest.fixture(scope="session")
def registry() -> str:
    run([REPO / "scripts/local-registry", "start"])
    return REGISTRY


@pytest.fixture(scope="session")
def dockerd():
    """Debian's dockerd on its own socket; stopped again if this session started it."""
    started = run([REPO / "scripts/dockerd", "status"], check=False).returncode != 0
    run([REPO / "scripts/dockerd", "start"], timeout=120)
    yield DOCKER_HOST
    if started and not os.environ.get("REMOTEDEV_KEEP_DOCKERD"):
        run([REPO / "scripts/dockerd", "stop"], check=False)


@pytest.fixture(scope="session")
def base_image(registry) -> str:
    """The Debian base made with debootstrap, pushed to the local registry."""
    result = run([REPO / "scripts/debian-base-image", "--push", registry], timeout=1800)
    return result.stdout.strip().splitlines()[-1]


class ScratchRegistry:
    """A second real registry (the same docker-registry binary) with its own
    storage, which the test can restart in read-only maintenance mode: lookups
    keep working and every push is refused."""

    def __init__(self, state: Path):
        from jupyter_probe import free_port

        self.state = state
        self.address = f"127.0.0.1:{free_port()}"
        self.process: subprocess.Popen | None = None

    def start(self, readonly: bool = False, htpasswd: str | None = None) -> None:
        """(Re)start; `htpasswd` ("user:bcrypt-hash") turns basic authentication on."""
        from jupyter_probe import api

        self.stop()
        config = self.state / "config.yml"
        auth = ""
        if htpasswd:
            (self.state / "htpasswd").write_text(htpasswd + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: scratch\n    path: {self.state}/htpasswd\n"
        config.write_text(
            "version: 0.1\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.state}/data\n"
            f"  maintenance:\n    readonly:\n      enabled: {'true' if readonly else 'false'}\n"
            f"http:\n  addr: {self.address}\n" + auth
        )
        self.credentials = None
        with open(self.state / "registry.log", "ab") as log:
            self.process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                api(f"http://{self.address}/", "v2/")
                return
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and htpasswd:
                    return  # up, and asking for credentials
                raise
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def tags(self, repository: str, auth: tuple[str, str] | None = None) -> dict[str, str]:
        """tag -> manifest digest, as the registry serves them."""
        headers = {"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                             "application/vnd.oci.image.manifest.v1+json"}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        try:
            request = urllib.request.Request(f"http://{self.address}/v2/{repository}/tags/list", headers=headers)
            with urllib.request.urlopen(request, timeout=10) as response:
                tags = json.load(response).get("tags") or []
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return {}
            raise
        digests = {}
        for tag in tags:
            request = urllib.request.Request(
                f"http://{self.address}/v2/{repository}/manifests/{tag}", method="HEAD", headers=headers)
            with urllib.request.urlopen(request, timeout=10) as response:
                digests[tag] = response.headers["Docker-Content-Digest"]
        return digests


@pytest.fixture()
def scratch_registry():
    with tempfile.TemporaryDirectory(prefix="scratch-registry-") as state:
        registry = ScratchRegistry(Path(state))
        try:
            yield registry
        finally:
            registry.stop()


@dataclass
class RoleRun(PlaybookRun):
    """A run of the image role (tests/support/playbook.py's result) and the
    image facts the added play wrote."""

    facts: dict = field(default_factory=dict)


def run_role(variables: dict, check_mode: bool = False, timeout: int = 3600, env: dict | None = None,
             verbosity: int = 0) -> RoleRun:
    """Run playbooks/build_image.yml (the shipped entry point) with `variables`
    as extra vars, then a play that writes the image facts for the test."""
    with tempfile.TemporaryDirectory() as tmp:
        facts_file = Path(tmp) / "facts.json"
        playbook = Path(tmp) / "play.yml"
        playbook.write_text(
            f"- ansible.builtin.import_playbook: {REPO / 'playbooks/build_image.yml'}\n"
            "- name: Save the facts for the test\n"
            "  hosts: localhost\n"
            "  gather_facts: false\n"
            "  tasks:\n"
            "    - name: Write the image facts\n"
            "      ansible.builtin.copy:\n"
            "        content: \"{{ {'ref': image_built_ref | default(None), 'tag': image_built_tag | default(None),"
            " 'hash': image_built_content_hash | default(None), 'digest': image_built_digest | default(None),"
            " 'pinned': image_built_pinned_ref | default(None)}"
            " | to_json }}\"\n"
            f"        dest: {facts_file}\n"
            "        mode: '0644'\n"
            "      check_mode: false\n"
            "      changed_when: false\n"
        )
        result = run_playbook(playbook, extra_vars=variables, check=check_mode, verbosity=verbosity, env=env,
                              timeout=timeout)
        facts = json.loads(facts_file.read_text()) if facts_file.exists() else {}
        return RoleRun(result.rc, result.stdout, result.stderr, result.report, result.command, facts)


def build_push_pull(variables: dict, timeout: int = 3600) -> dict:
    """Build with the role, run it again (it must change nothing), then drop
    the local image and pull it back from the registry, as a node would."""
    first = run_role(variables, timeout=timeout)
    assert first.rc == 0, first.failure or first.output[-3000:]
    second = run_role(variables)
    engine = Engine("podman")
    engine.remove_image(first.facts["ref"])
    engine.pull(first.facts["ref"])
    return {"first": first, "second": second, "engine": engine, "ref": first.facts["ref"]}


def assert_built_and_pushed_once(built: dict) -> None:
    assert built["first"].changed() > 0
    assert built["first"].facts["digest"].startswith("sha256:")
    assert built["second"].rc == 0 and built["second"].changed() == 0
    assert built["second"].facts == built["first"].facts


@pytest.fixture(scope="session")
def role():
    return run_role


class Engine:
    """The CLI of one builder (podman, or docker against our dockerd)."""

    def __init__(self, name: str):
        self.name = name
        self.env = {"DOCKER_HOST": DOCKER_HOST} if name == "docker" else {}
        self.exe = shutil.which(name)
        assert self.exe, f"{name} CLI not found"

    def __call__(self, *args, check=True, timeout=300) -> subprocess.CompletedProcess:
        return run([self.exe, *args], check=check, env=self.env, timeout=timeout)

    def pull(self, ref: str) -> None:
        args = ["pull", "-q", ref]
        if self.name == "podman":
            args.insert(1, "--tls-verify=false")
        self(*args, timeout=600)

    def image_id(self, ref: str) -> str:
        return self("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def exists(self, ref: str) -> bool:
        return self("image", "inspect", ref, check=False).returncode == 0

    def remove_image(self, ref: str) -> None:
        self("rmi", "-f", ref, check=False)
