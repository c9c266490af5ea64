"""Fixtures of the deploy proofs: the playbooks run as users run them
(tests/support/playbook.py), against the real cluster of kubeconfig() where
they need one."""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.playbook import kubeconfig, run_playbook  # noqa: E402

PLAYBOOKS = REPO / "playbooks"
TEST_PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
REGISTRY = os.environ.get("REMOTEDEV_REGISTRY", "127.0.0.1:5000")


# ---------------------------------------------------------------- cluster


@pytest.fixture(scope="session")
def kube_env() -> dict[str, str]:
    """KUBECONFIG= of the cluster the proofs use (kubeconfig()), for run_playbook's env."""
    path = kubeconfig()
    if not Path(path).is_file():
        pytest.fail(f"no kubeconfig at {path}: start the local cluster (make cluster-up)")
    return {"KUBECONFIG": path}


@dataclass
class KubeClients:
    core: object


@pytest.fixture(scope="session")
def kube(kube_env):
    """The kubernetes client on the cluster's admin kubeconfig."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=kube_env["KUBECONFIG"])
    return KubeClients(core=client.CoreV1Api(api_client))


# ---------------------------------------------------------------- rendering


@pytest.fixture
def render(tmp_path):
    """Render both roles' manifests through their render_only path; returns
    (the run, {role: [documents]})."""

    def _render(**values):
        values.setdefault("jupyter_server_image", f"{REGISTRY}/remotedev/jupyter-server:test")
        values.setdefault("code_server_image", f"{REGISTRY}/remotedev/code-server:test")
        values.setdefault("code_server_jupyter_url", "http://jupyter-localhost.remotedev-jupyter.svc.cluster.local:8888/")
        values.setdefault("code_server_jupyter_secret_name", "jupyter-localhost")
        values.setdefault("frontend_image", f"{REGISTRY}/remotedev/frontend:test")
        values.setdefault("frontend_jupyter_url", "http://jupyter-localhost.remotedev-jupyter.svc.cluster.local:8888/")
        out = tmp_path / f"render-{secrets.token_hex(4)}"
        out.mkdir()
        run = run_playbook(TEST_PLAYBOOKS / "render.yml", extra_vars=values, env={"RENDER_DIR": str(out)})
        return run, {
            role: [d for d in yaml.safe_load_all((out / f"{role}.yaml").read_text()) if d]
            for role in ("jupyter_server", "code_server", "frontend")
            if (out / f"{role}.yaml").exists()
        }

    return _render


def by_kind(documents: list[dict], kind: str) -> dict:
    found = [d for d in documents if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} in {[d['kind'] for d in documents]}"
    return found[0]


# ---------------------------------------------------------------- a restricted deploy identity

RBAC_MANIFEST = REPO / "deploy" / "rbac" / "deployer.yml"


@dataclass
class RestrictedIdentity:
    namespace: str
    kubeconfig: str  # the ServiceAccount's token, and nothing else
    env: dict  # KUBECONFIG= that kubeconfig, for run_playbook


def rbac_documents(namespace: str) -> list[dict]:
    """deploy/rbac/deployer.yml for `namespace` instead of its `jupyter`."""
    documents = yaml.safe_load(RBAC_MANIFEST.read_text())["items"]
    for document in documents:
        meta = document["metadata"]
        if document["kind"] == "Namespace":
            meta["name"] = namespace
        if meta.get("namespace") == "jupyter":
            meta["namespace"] = namespace
        if document["kind"].startswith("Cluster"):
            meta["name"] = meta["name"].replace("-jupyter", "-" + namespace)
        if document["kind"] == "ClusterRoleBinding":
            document["roleRef"]["name"] = document["roleRef"]["name"].replace("-jupyter", "-" + namespace)
        for subject in document.get("subjects", []):
            subject["namespace"] = namespace
        for rule in document.get("rules", []):
            if rule.get("resourceNames") == ["jupyter"]:
                rule["resourceNames"] = [namespace]
    return documents


@pytest.fixture
def restricted_identity(kube_env, tmp_path):
    """deploy/rbac/deployer.yml applied by the admin for a fresh namespace, and a
    kubeconfig holding only its ServiceAccount's token (a short-lived one from
    the TokenRequest API, as `kubectl create token` makes)."""
    import subprocess

    namespace = f"rdj-rbac-{secrets.token_hex(3)}"
    documents = rbac_documents(namespace)
    admin = dict(os.environ, **kube_env)

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(["kubectl", *args], input=stdin, env=admin, capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    try:
        token = kubectl("-n", namespace, "create", "token", "remotedev-jupyter-deployer", "--duration=1h").strip()
        view = yaml.safe_load(kubectl("config", "view", "--raw", "--minify"))
        cluster = view["clusters"][0]["cluster"]
        restricted = tmp_path / "restricted.kubeconfig"
        restricted.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "deployer",
            "clusters": [{"name": "local", "cluster": cluster}],
            "users": [{"name": "deployer", "user": {"token": token}}],
            "contexts": [{"name": "deployer", "context": {"cluster": "local", "user": "deployer"}}],
        }))
        restricted.chmod(0o600)
        yield RestrictedIdentity(namespace, str(restricted), {"KUBECONFIG": str(restricted)})
    finally:
        subprocess.run(["kubectl", "delete", "--wait=false", "--ignore-not-found", "-f", "-"],
                       input=yaml.safe_dump_all(documents), env=admin, capture_output=True, text=True, timeout=120,
                       check=False)
