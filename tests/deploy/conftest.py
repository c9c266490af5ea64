"""Fixtures of the deploy proofs: the playbooks run as users run them, against
the real local cluster (tools/localcluster), with images built by the image role."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
TEST_PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
REGISTRY = os.environ.get("REMOTEDEV_REGISTRY", "127.0.0.1:5000")
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.M,
)


@dataclass
class Run:
    """One ansible-playbook run: exit code, output, and the recap per host."""

    rc: int
    output: str
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    def changed(self, host: str | None = None) -> int:
        hosts = [host] if host else list(self.recap)
        return sum(self.recap[h]["changed"] for h in hosts)

    def check(self) -> Run:
        assert self.rc == 0, self.output[-6000:]
        return self


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_STDOUT_CALLBACK="default",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run_playbook(playbook: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 1800) -> Run:
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(playbook), *args],
        cwd=REPO,
        env=env or ansible_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    recap = {
        m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
        for m in RECAP.finditer(proc.stdout)
    }
    return Run(proc.returncode, proc.stdout, recap)


def extra_vars_file(directory: Path, name: str, values: dict) -> str:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(values))
    return f"@{path}"


# ---------------------------------------------------------------- cluster


def cluster_env() -> dict[str, str]:
    """KUBECONFIG of the local cluster, unless one is given."""
    if os.environ.get("KUBECONFIG"):
        return {"KUBECONFIG": os.environ["KUBECONFIG"]}
    out = subprocess.run(
        [sys.executable, str(REPO / "tools/localcluster/cluster.py"), "env"],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    values = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return {"KUBECONFIG": values["KUBECONFIG"]}


@pytest.fixture(scope="session")
def kube_env() -> dict[str, str]:
    env = cluster_env()
    if not Path(env["KUBECONFIG"]).is_file():
        pytest.fail(f"no kubeconfig at {env['KUBECONFIG']}: start the local cluster (make cluster-up)")
    return env


@pytest.fixture(scope="session")
def kube(kube_env):
    """The kubernetes client on the cluster's admin kubeconfig."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=kube_env["KUBECONFIG"])
    return KubeClients(
        core=client.CoreV1Api(api_client),
        apps=client.AppsV1Api(api_client),
        net=client.NetworkingV1Api(api_client),
        api_client=api_client,
    )


@dataclass
class KubeClients:
    core: object
    apps: object
    net: object
    api_client: object

    def pods(self, namespace: str, selector: str) -> list:
        items = self.core.list_namespaced_pod(namespace, label_selector=selector).items
        return [p for p in items if p.metadata.deletion_timestamp is None]

    def wait_pods_gone(self, namespace: str, selector: str, timeout: int = 180) -> None:
        deadline = time.monotonic() + timeout
        while self.core.list_namespaced_pod(namespace, label_selector=selector).items:
            assert time.monotonic() < deadline, f"pods {selector} still there after {timeout}s"
            time.sleep(2)

    def exec(self, namespace: str, pod: str, command: list[str], container: str | None = None) -> str:
        from kubernetes.stream import stream

        kwargs = {"container": container} if container else {}
        return stream(
            self.core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=command,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=True,
            **kwargs,
        )

    def secret_values(self, namespace: str, name: str) -> dict[str, str]:
        import base64

        data = self.core.read_namespaced_secret(name, namespace).data or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items()}


@pytest.fixture(scope="session")
def namespace(kube) -> str:
    """A namespace of its own for this session; deleted (with its volumes) at the end."""
    name = f"rdj-test-{secrets.token_hex(3)}"
    yield name
    from kubernetes.client.exceptions import ApiException

    try:
        kube.core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


# ---------------------------------------------------------------- images


def build_image(kind: str) -> str:
    """Build (or find, by content tag) an image with the image role and push it
    to the local registry; returns its reference."""
    run = run_playbook(
        PLAYBOOKS / "build_image.yml",
        "-e",
        json.dumps(
            {
                "image_kind": kind,
                "image_registry": REGISTRY,
                "image_push": True,
                "image_registry_tls": False,
            }
        ),
        timeout=3600,
    ).check()
    refs = re.findall(r'msg: (\S+/remotedev/[\w-]+:\w+)', run.output)
    assert refs, run.output[-3000:]
    return refs[-1]


MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])  # fmt: skip


def tag_in_registry(ref: str, tag: str) -> str:
    """Give an image in the (plain HTTP) test registry one more tag, as a
    release pipeline promotes a build: its manifest, byte for byte, under the
    new tag. Returns the new reference."""
    import requests

    registry, repository = ref.split("/", 1)
    repository, old_tag = repository.rsplit(":", 1)
    base = f"http://{registry}/v2/{repository}/manifests"
    manifest = requests.get(f"{base}/{old_tag}", headers={"Accept": MANIFEST_TYPES}, timeout=30)
    manifest.raise_for_status()
    put = requests.put(
        f"{base}/{tag}", data=manifest.content, headers={"Content-Type": manifest.headers["Content-Type"]}, timeout=30
    )
    assert put.status_code == 201, (put.status_code, put.text)
    return f"{registry}/{repository}:{tag}"


@pytest.fixture(scope="session")
def jupyter_image() -> str:
    return os.environ.get("REMOTEDEV_JUPYTER_IMAGE") or build_image("jupyter")


@pytest.fixture(scope="session")
def code_server_image() -> str:
    return os.environ.get("REMOTEDEV_CODE_SERVER_IMAGE") or build_image("code_server")


# ---------------------------------------------------------------- rendering


@pytest.fixture
def render(tmp_path):
    """Render both roles' manifests through their render_only path; returns
    {role: [documents]}."""

    def _render(**values):
        values.setdefault("jupyter_server_image", f"{REGISTRY}/remotedev/jupyter-server:test")
        values.setdefault("code_server_image", f"{REGISTRY}/remotedev/code-server:test")
        values.setdefault("code_server_jupyter_url", "http://jupyter-localhost.remotedev-jupyter.svc.cluster.local:8888/")
        values.setdefault("code_server_jupyter_secret_name", "jupyter-localhost")
        out = tmp_path / f"render-{secrets.token_hex(4)}"
        out.mkdir()
        run = run_playbook(
            TEST_PLAYBOOKS / "render.yml",
            "-e",
            extra_vars_file(out, "vars", values),
            env=ansible_env(RENDER_DIR=str(out)),
        )
        return run, {
            role: [d for d in yaml.safe_load_all((out / f"{role}.yaml").read_text()) if d]
            for role in ("jupyter_server", "code_server")
            if (out / f"{role}.yaml").exists()
        }

    return _render


def by_kind(documents: list[dict], kind: str) -> dict:
    found = [d for d in documents if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} in {[d['kind'] for d in documents]}"
    return found[0]
