"""The restricted deploy identity of deploy/rbac/deployer.yml is refused what
the manifest does not grant (its successful deploy, stop and teardown are in
test_backup_restore.py, which deploys through it)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess

from kubernetes.client.exceptions import ApiException
import pytest

from conftest import PLAYBOOKS, REGISTRY, run_playbook


def kubectl_as(identity, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], env=dict(os.environ, **identity.env), capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_restricted_identity_is_refused_outside_its_grant(restricted_identity, tmp_path, kube):
    for verb, resource, namespace, allowed in [
        ("patch", "deployments.apps", restricted_identity.namespace, "yes"),
        ("create", "pods", restricted_identity.namespace, "yes"),
        ("create", "namespaces", "", "no"),
        ("get", "secrets", "kube-system", "no"),
        ("create", "pods --subresource=exec", restricted_identity.namespace, "no"),
        # the server's Role for kernel pods (jupyter_server_pod_kernels), in its namespace only,
        # never more than it holds itself
        ("create", "rolebindings.rbac.authorization.k8s.io", restricted_identity.namespace, "yes"),
        ("create", "rolebindings.rbac.authorization.k8s.io", "kube-system", "no"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io", "", "no"),
        ("escalate", "roles.rbac.authorization.k8s.io", restricted_identity.namespace, "no"),
        ("bind", "clusterroles.rbac.authorization.k8s.io", restricted_identity.namespace, "no"),
        ("list", "storageclasses.storage.k8s.io", "", "no"),
    ]:
        answer = kubectl_as(restricted_identity, "auth", "can-i", verb, *resource.split(),
                            *(["-n", namespace] if namespace else []))
        assert answer.stdout.strip() == allowed, f"can-i {verb} {resource} -n {namespace}: {answer.stdout}{answer.stderr}"

    # A deploy into a namespace it was not granted: refused by the API server before any change.
    other = f"rdj-rbac-other-{secrets.token_hex(3)}"
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"jupyter_servers": {"hosts": {"team-x": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "jupyter_server_namespace": other, "jupyter_server_image": f"{REGISTRY}/remotedev/jupyter-server:unused",
    }}}}}}))
    run = run_playbook(PLAYBOOKS / "deploy.yml", "-i", str(inventory), env=restricted_identity.env)
    assert run.rc != 0
    assert "403" in run.failure and "forbidden" in run.failure.lower(), run.summary()
    assert "Nothing was changed." in run.failure, run.summary()
    with pytest.raises(ApiException) as missing:
        kube.core.read_namespace(other)
    assert missing.value.status == 404
