"""Bad input gets a clear error, before anything is changed in the cluster
wherever it can be checked up front."""

from __future__ import annotations

import secrets
import time

import pytest
from kubernetes.client.exceptions import ApiException

from conftest import PLAYBOOKS, run_playbook


def fresh_namespace() -> str:
    return f"rdj-bad-{secrets.token_hex(3)}"


def assert_absent(kube, namespace: str) -> None:
    with pytest.raises(ApiException) as missing:
        kube.core.read_namespace(namespace)
    assert missing.value.status == 404, f"namespace {namespace} was created"


@pytest.fixture
def inventory(tmp_path):
    """One instance on the controller, like the example inventory's hosts."""
    path = tmp_path / "hosts.yml"
    path.write_text(
        "all:\n"
        "  children:\n"
        "    jupyter_servers:\n"
        "      hosts:\n"
        "        team-x:\n"
        "          ansible_connection: local\n"
        "          ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
    )
    return str(path)


@pytest.fixture
def deploy(inventory, kube_env):
    def _deploy(namespace: str, *extra: str, env: dict | None = None):
        return run_playbook(
            PLAYBOOKS / "deploy.yml",
            "-i", inventory,
            "-e", f"jupyter_server_namespace={namespace}",
            "-e", f"code_server_namespace={namespace}",
            "-e", "jupyter_server_image=127.0.0.1:5000/remotedev/jupyter-server:unused",
            *extra,
            env=env or kube_env,
        )  # fmt: skip

    return _deploy


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-e", "jupyter_server_namespace=Team_NS"], 'Invalid name: namespace "Team_NS"'),
        (["-e", "jupyter_server_instance=team.a"], 'instance "team.a"'),
        (["-e", "jupyter_server_port=70000"], "jupyter_server_port=70000 is out of range: it must be 1-65535"),
        (["-e", "jupyter_server_port=http"], "argument 'jupyter_server_port' is of type str and we were unable to convert to int"),
        (["-e", "jupyter_server_service_port=0"], "jupyter_server_service_port=0 is out of range"),
        (["-e", '{"jupyter_server_settings": {"ServerApp": {"no_such_trait": 1}}}'],
         "settings.ServerApp.no_such_trait: ServerApp has no configurable trait 'no_such_trait'"),
        (["-e", '{"jupyter_server_settings": {"MappingKernelManager": {"cull_idle_timeout": "soon"}}}'],
         "settings.MappingKernelManager.cull_idle_timeout"),
        (["-e", '{"jupyter_server_settings": {"IdentityProvider": {"token": "abc"}}}'],
         "jupyter_server_settings.IdentityProvider sets token: secrets would end up in the ConfigMap"),
        (["-e", '{"jupyter_server_settings": {"ServerApp": {"port": 9999, "open_browser": false}}}'],
         "jupyter_server_settings.ServerApp sets port:"),
        (["-e", "jupyter_server_password=a"], "jupyter_server_password is 1 characters long"),
        (["-e", "jupyter_server_token=abc"], "jupyter_server_token is 3 characters long"),
        (["-e", "jupyter_server_image="], "jupyter_server_image is empty"),
        (["-e", "jupyter_server_storage_class=no-such-class"], "StorageClass no-such-class (jupyter_server_storage_class) does not exist"),
        (["-e", "jupyter_server_route_enabled=true", "-e", "jupyter_server_route_host=a.example.test"],
         "cluster serves no route.openshift.io/v1 API"),
        (["-e", "jupyter_server_ingress_enabled=true"], "jupyter_server_ingress_enabled needs jupyter_server_ingress_hosts"),
        (["-e", "code_server_enabled=true", "-e", "jupyter_server_namespace=kube-public", "-e", "code_server_namespace=kube-public",
          "-e", "jupyter_server_namespace_create=false", "-e", "jupyter_server_state=absent",
          "-e", "code_server_image=127.0.0.1:5000/remotedev/code-server:unused"],
         "Jupyter Server jupyter-team-x not found in namespace"),
    ],
    ids=[
        "namespace", "instance", "port-range", "port-type", "service-port", "unknown-trait", "trait-type",
        "secret-in-settings", "port-in-settings", "short-password", "short-token", "no-image", "storage-class",
        "route-not-openshift", "ingress-without-host", "code-server-without-jupyter",
    ],  # fmt: skip
)
def test_rejected_before_any_change(deploy, kube, extra, message):
    namespace = fresh_namespace()
    run = deploy(namespace, *extra)
    assert run.rc != 0
    assert message in run.failure, run.summary()
    assert_absent(kube, namespace)


def test_unreachable_cluster(deploy, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        "clusters: [{name: dead, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: x}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: u}}]\n"
    )
    run = deploy(fresh_namespace(), env={"KUBECONFIG": str(kubeconfig)})
    assert run.rc != 0
    assert "Cannot reach the Kubernetes API (kubeconfig " in run.failure and "Nothing was changed." in run.failure, run.summary()


def test_missing_image_fails_fast_with_the_reason(deploy, kube, inventory, kube_env):
    """An image that is not in the registry cannot be checked up front from the
    controller; the rollout wait names the reason and gives up early instead of
    running into its timeout."""
    namespace = fresh_namespace()
    start = time.monotonic()
    run = deploy(namespace, "-e", "jupyter_server_image=127.0.0.1:5000/remotedev/no-such-image:1")
    took = time.monotonic() - start
    try:
        assert run.rc != 0
        assert "is not ready (gave up early: it will not recover by itself)" in run.failure, run.summary()
        assert "ImagePullBackOff" in run.failure and "no-such-image" in run.failure, run.summary()
        assert took < 300, f"took {took:.0f}s: the wait should give up early"
    finally:
        kube.core.delete_namespace(namespace)
