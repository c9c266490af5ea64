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
        out = tmp_path / f"render-{secrets.token_hex(4)}"
        out.mkdir()
        run = run_playbook(TEST_PLAYBOOKS / "render.yml", extra_vars=values, env={"RENDER_DIR": str(out)})
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
