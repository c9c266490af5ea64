"""The playbooks as the README and the runbooks use them, where the issue found
them failing or misleading (issue 17): each runs the real playbook on a
generated inventory against the cluster, in a fresh namespace that is gone
afterwards. The lifecycle itself (a real site run, rollbacks, rotations,
backups) is Molecule's."""

from __future__ import annotations

import base64
import json
import secrets

import pytest
import yaml
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from conftest import PLAYBOOKS, REGISTRY, REPO, TEST_PLAYBOOKS, run_playbook

PINNED = f"{REGISTRY}/remotedev/jupyter-server:pinned-in-group-vars"
PINNED_CODE_SERVER = f"{REGISTRY}/remotedev/code-server:pinned-in-group-vars"


def fresh_namespace() -> str:
    return f"rdj-rb-{secrets.token_hex(3)}"


def write_inventory(tmp_path, namespace: str, hosts: dict, group_vars: dict | None = None) -> str:
    """The example inventory's layout: instances as hosts of jupyter_servers,
    an environment's settings in group_vars (not -e, which would outrank what
    the playbooks set)."""
    common = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "jupyter_server_namespace": namespace,
        "code_server_namespace": namespace,
        "jupyter_server_instance": "{{ team }}",
        "code_server_instance": "{{ team }}",
    }
    common.update(group_vars or {})
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"jupyter_servers": {"hosts": hosts}}}}))
    (inventory / "group_vars" / "jupyter_servers.yml").write_text(yaml.safe_dump(common))
    return str(inventory)


def namespace_exists(kube, namespace: str) -> bool:
    try:
        kube.core.read_namespace(namespace)
    except ApiException as exc:
        assert exc.status == 404, exc
        return False
    return True


def deployment_images(run, kind="Deployment/") -> list[str]:
    """The image lines of the Deployments a --diff run shows."""
    images = []
    for task in run.tasks:
        for diff in task.get("diff") or []:
            if isinstance(diff, dict) and str(diff.get("after_header", "")).startswith(kind):
                after = yaml.safe_load(diff["after"])
                images += [c["image"] for c in after["spec"]["template"]["spec"]["containers"]]
    return images


@pytest.mark.parametrize("existing", [False, True], ids=["new-environment", "new-team-in-existing-namespace"])
def test_first_deploy_preview_before_any_image(tmp_path, kube_env, kube, existing):
    """README and runbook-first-deploy step 2: deploy --check --diff before the
    first site run shows the plan (a placeholder image, a warning naming
    site.yml) and creates nothing."""
    namespace = fresh_namespace()
    if existing:
        kube.core.create_namespace({"metadata": {"name": namespace}})
    try:
        inventory = write_inventory(tmp_path, namespace, {"team-x": {"team": "team-x", "code_server_enabled": True}})
        run = run_playbook(PLAYBOOKS / "deploy.yml", "-i", inventory, check=True, diff=True, env=kube_env)
        assert run.rc == 0, run.summary()
        assert deployment_images(run) == ["<image built by site.yml, or set jupyter_server_image>",
                                          "<image built by site.yml, or set code_server_image>"], run.summary()
        assert "jupyter_server_image is empty" in run.output and "site.yml" in run.output
        assert namespace_exists(kube, namespace) == existing
        if existing:
            assert kube.core.list_namespaced_secret(namespace).items == []
    finally:
        if existing:
            kube.core.delete_namespace(namespace)


def test_deploy_without_an_image_says_to_run_site(tmp_path, kube_env, kube):
    namespace = fresh_namespace()
    inventory = write_inventory(tmp_path, namespace, {"team-x": {"team": "team-x"}})
    run = run_playbook(PLAYBOOKS / "deploy.yml", "-i", inventory, env=kube_env)
    assert run.rc != 0
    assert "On a first deploy run playbooks/site.yml" in run.failure, run.summary()
    assert not namespace_exists(kube, namespace)


def test_code_server_is_validated_before_the_jupyter_server_is_applied(tmp_path, kube_env, kube):
    namespace = fresh_namespace()
    inventory = write_inventory(tmp_path, namespace, {"team-x": {"team": "team-x", "code_server_enabled": True}},
                                {"jupyter_server_image": PINNED, "code_server_image": PINNED_CODE_SERVER,
                                 "code_server_password": "abc"})
    run = run_playbook(PLAYBOOKS / "deploy.yml", "-i", inventory, env=kube_env)
    assert run.rc != 0
    assert "code_server_password is 3 characters long" in run.failure, run.summary()
    assert run.changed("team-x") == 0
    assert not namespace_exists(kube, namespace), "the Jupyter Server was applied before code-server's check"


def test_site_keeps_an_image_pinned_in_group_vars(tmp_path, kube_env, kube):
    """runbook-upgrade-image: a pin (or a roll-back) in group_vars survives the
    next site run; with every instance pinned, nothing is built."""
    namespace = fresh_namespace()
    inventory = write_inventory(tmp_path, namespace, {"team-x": {"team": "team-x", "code_server_enabled": True}},
                                {"jupyter_server_image": PINNED, "code_server_image": PINNED_CODE_SERVER})
    run = run_playbook(PLAYBOOKS / "site.yml", "-i", inventory, check=True, diff=True, env=kube_env)
    assert run.rc == 0, run.summary()
    assert deployment_images(run) == [PINNED, PINNED_CODE_SERVER], run.summary()
    built = [t for t in run.task("Build the") if not t.skipped]
    assert built == [], [t.task for t in built]
    assert not namespace_exists(kube, namespace)


def test_pull_secret_on_a_first_deploy(tmp_path, kube_env, kube):
    """The role creates its pull Secret after the namespace and before the pods."""
    namespace = fresh_namespace()
    config = json.dumps({"auths": {REGISTRY: {"auth": base64.b64encode(b"robot:pull-pass-1").decode()}}})
    inventory = write_inventory(tmp_path, namespace, {"team-x": {"team": "team-x"}},
                                {"jupyter_server_image": PINNED, "jupyter_server_wait": False,
                                 "jupyter_server_image_pull_dockerconfigjson": config})
    try:
        run = run_playbook(PLAYBOOKS / "deploy.yml", "-i", inventory, "-vvv", env=kube_env)
        assert run.rc == 0, run.summary()
        secret = kube.core.read_namespaced_secret("jupyter-team-x-pull", namespace)
        assert secret.type == "kubernetes.io/dockerconfigjson"
        assert base64.b64decode(secret.data[".dockerconfigjson"]).decode() == config
        apps = client.AppsV1Api(kube_config.new_client_from_config(config_file=kube_env["KUBECONFIG"]))
        deployment = apps.read_namespaced_deployment("jupyter-team-x", namespace)
        assert [s.name for s in deployment.spec.template.spec.image_pull_secrets] == ["jupyter-team-x-pull"]
        assert "pull-pass-1" not in run.output and base64.b64encode(b"robot:pull-pass-1").decode() not in run.output
    finally:
        kube.core.delete_namespace(namespace)


def test_named_pull_secrets_in_a_new_namespace_say_how(tmp_path, kube_env, kube):
    namespace = fresh_namespace()
    inventory = write_inventory(tmp_path, namespace, {"team-x": {"team": "team-x"}},
                                {"jupyter_server_image": PINNED, "jupyter_server_image_pull_secrets": ["regcred"]})
    run = run_playbook(PLAYBOOKS / "deploy.yml", "-i", inventory, check=True, diff=True, env=kube_env)
    assert run.rc != 0
    assert "does not exist yet, so it holds none of the image pull secrets regcred" in run.failure, run.summary()
    assert "jupyter_server_image_pull_dockerconfigjson" in run.failure
    assert not namespace_exists(kube, namespace)


def test_rotate_token_with_an_explicit_token_fails_clearly(tmp_path, kube_env, kube):
    namespace = fresh_namespace()
    inventory = write_inventory(tmp_path, namespace, {"team-x": {"team": "team-x"}},
                                {"jupyter_server_image": PINNED, "jupyter_server_token": "t" * 40})
    run = run_playbook(PLAYBOOKS / "rotate_password.yml", "-i", inventory,
                       extra_vars={"new_password": "rotated-pw-1", "rotate_token": True}, env=kube_env)
    assert run.rc != 0
    assert "rotate_token=true cannot replace jupyter_server_token" in run.failure, run.summary()
    assert "t" * 40 not in run.output
    assert not namespace_exists(kube, namespace)


def test_status_refuses_one_port_forward_url_for_many_instances(tmp_path, kube_env):
    inventory = write_inventory(tmp_path, fresh_namespace(), {"team-a": {"team": "team-a"}, "team-b": {"team": "team-b"}})
    run = run_playbook(PLAYBOOKS / "status.yml", "-i", inventory, "-e", "jupyter_server_status_url=http://127.0.0.1:8888/",
                       env=kube_env)
    assert run.rc != 0
    assert "is the same for 2 instances" in run.failure and "--limit <host>" in run.failure, run.summary()
    assert not run.ran("Ask the cluster and the server")


def test_status_without_a_url_and_with_one_url_per_host_goes_past_the_check(tmp_path, kube_env):
    """The check itself must not fail where it has nothing to say (no URL, or
    one per host); the instances are not deployed, which the step after it says."""
    namespace = fresh_namespace()
    for hosts in ({"team-a": {"team": "team-a"}, "team-b": {"team": "team-b"}},
                  {"team-a": {"team": "team-a", "jupyter_server_status_url": "http://127.0.0.1:8801/"},
                   "team-b": {"team": "team-b", "jupyter_server_status_url": "http://127.0.0.1:8802/"}}):
        inventory = write_inventory(tmp_path / secrets.token_hex(2), namespace, hosts)
        run = run_playbook(PLAYBOOKS / "status.yml", "-i", inventory, env=kube_env)
        assert run.rc != 0
        assert run.ran("Ask the cluster and the server"), run.summary()
        assert "is not deployed" in run.failure, run.summary()


def test_default_kernel_follows_image_default_kernel(render):
    """runbook-add-a-kernel: image_default_kernel in the inventory reaches the
    server's config (the image's own file is hidden by the ConfigMap)."""
    _run, documents = render(image_default_kernel="tools")
    configmap = next(d for d in documents["jupyter_server"] if d["kind"] == "ConfigMap")
    assert "c.MappingKernelManager.default_kernel_name = 'tools'" in configmap["data"]["jupyter_server_config.py"]
    _run, documents = render(image_default_kernel="tools", jupyter_server_default_kernel="python3")
    configmap = next(d for d in documents["jupyter_server"] if d["kind"] == "ConfigMap")
    assert "c.MappingKernelManager.default_kernel_name = 'python3'" in configmap["data"]["jupyter_server_config.py"]


def test_example_eks_environment_passes_validation():
    """inventory/example's eks environment (docs/production-eks.md) with its
    vault's keys (vault.yml.example's placeholders) passes both roles' checks."""
    run = run_playbook(TEST_PLAYBOOKS / "validate.yml", "-i", str(REPO / "inventory" / "example"), "--limit", "eks",
                       "-e", f"@{REPO / 'inventory' / 'example' / 'group_vars' / 'eks' / 'vault.yml.example'}")
    assert run.rc == 0, run.summary()
    checked = [t for t in run.task(" : Check the ") if not t.skipped]
    assert sorted((t.host, t.task.split(" : ")[0]) for t in checked) == [
        ("eks-team-a", "remotedev.jupyter.code_server"), ("eks-team-a", "remotedev.jupyter.jupyter_server"),
        ("eks-team-b", "remotedev.jupyter.jupyter_server")], [(t.host, t.task) for t in checked]
