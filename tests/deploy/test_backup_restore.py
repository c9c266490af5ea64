"""docs/runbook-backup-restore.md, command by command, on the local cluster:
the playbooks run as the restricted deploy identity of deploy/rbac/deployer.yml
(so this is also its proof that a deploy, a stop and a teardown work with only
that RBAC), the kubectl commands as the operator (admin):
the tar backup and restore into the running server, then the snapshot path's
steps (server stopped with replicas=0, the PVC replaced, deploy), with the
instance's credentials kept throughout. The local cluster has no CSI snapshot
driver: the replaced PVC is filled from the tar backup instead of a
VolumeSnapshot, which is what the runbook's steps around it are about.

Needs a Jupyter Server image in the local registry (the images stage pushes
it; any remotedev/jupyter-server tag runs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request

import pytest

from conftest import PLAYBOOKS, REGISTRY, run_playbook

RUNBOOK_BACKUP = (
    "kubectl -n {ns} exec deploy/{name} -- sh -c "
    "'cd /home/jovyan/work && find . -mindepth 1 -maxdepth 1 -print0 | tar -czf - --null -T -' > {archive}"
)
RUNBOOK_RESTORE = "kubectl -n {ns} exec -i deploy/{name} -- tar -C /home/jovyan/work -xzf - < {archive}"


def registry_image() -> str:
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/remotedev/jupyter-server/tags/list", timeout=10) as answer:
            tags = json.load(answer).get("tags") or []
    except OSError as exc:
        pytest.skip(f"no local registry at {REGISTRY}: {exc}")
    content_tags = sorted(t for t in tags if not t.startswith("upgrade-"))
    if not content_tags:
        pytest.skip("no remotedev/jupyter-server image in the local registry (run the images stage first)")
    return f"{REGISTRY}/remotedev/jupyter-server:{content_tags[0]}"


def sh(command: str, env: dict) -> str:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def secret_values(kube, name: str, namespace: str) -> dict:
    return dict(kube.core.read_namespaced_secret(name, namespace).data)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="the runbook's commands need kubectl")
def test_backup_and_restore_as_the_runbook_says(tmp_path, kube_env, kube, restricted_identity):
    env = dict(os.environ, **kube_env)
    namespace, team = restricted_identity.namespace, "team-br"
    name = f"jupyter-{team}"
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"jupyter_servers": {"hosts": {team: {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "jupyter_server_namespace": namespace, "code_server_namespace": namespace, "jupyter_server_instance": team,
        "jupyter_server_image": registry_image(), "jupyter_server_storage_size": "1Gi",
        "jupyter_server_password": "backup-restore-pw-1",
        "jupyter_server_resources": {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }}}}}}))

    def deploy(*extra: str):
        run = run_playbook(PLAYBOOKS / "deploy.yml", "-i", str(inventory), *extra, env=restricted_identity.env)
        assert run.rc == 0, run.summary()
        return run

    archive = tmp_path / f"{name}-backup.tgz"
    values = {"ns": namespace, "name": name, "archive": archive}
    deploy()
    credentials = secret_values(kube, name, namespace)
    sh(f"kubectl -n {namespace} exec deploy/{name} -- sh -c "
       "'mkdir -p /home/jovyan/work/project && echo kept-by-the-backup > /home/jovyan/work/project/notes.txt "
       "&& echo dotfile > /home/jovyan/work/.hidden'", env)

    # Back up (server running), look inside.
    sh(RUNBOOK_BACKUP.format(**values), env)
    listing = sh(f"tar tzf {archive}", env)
    assert "./project/notes.txt" in listing and "./.hidden" in listing, listing

    # Restore into the running server, after losing a directory.
    sh(f"kubectl -n {namespace} exec deploy/{name} -- rm -rf /home/jovyan/work/project", env)
    sh(RUNBOOK_RESTORE.format(**values), env)
    assert sh(f"kubectl -n {namespace} exec deploy/{name} -- cat /home/jovyan/work/project/notes.txt",
              env).strip() == "kept-by-the-backup"

    # The snapshot path: stop the server, replace the PVC, deploy; the
    # Secrets are never deleted.
    deploy("-e", "jupyter_server_replicas=0")
    pvc = kube.core.read_namespaced_persistent_volume_claim(name, namespace)
    sh(f"kubectl -n {namespace} delete pvc {name} --wait=true", env)
    sh(f"kubectl -n {namespace} apply -f - <<'YAML'\n"
       f"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}}}\n"
       f"spec:\n  accessModes: [{pvc.spec.access_modes[0]}]\n"
       f"  resources: {{requests: {{storage: {pvc.spec.resources.requests['storage']}}}}}\n"
       + (f"  storageClassName: {pvc.spec.storage_class_name}\n" if pvc.spec.storage_class_name else "")
       + "YAML", env)
    deploy()
    sh(RUNBOOK_RESTORE.format(**values), env)
    assert sh(f"kubectl -n {namespace} exec deploy/{name} -- cat /home/jovyan/work/project/notes.txt",
              env).strip() == "kept-by-the-backup"
    assert secret_values(kube, name, namespace) == credentials, "the token or the password hash changed"
    assert deploy().stats[team]["changed"] == 0
    removed = run_playbook(PLAYBOOKS / "teardown.yml", "-i", str(inventory), "-e", "purge_data=true",
                           env=restricted_identity.env)
    assert removed.rc == 0, removed.summary()
