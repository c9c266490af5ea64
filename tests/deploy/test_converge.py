"""The life of deployed instances on the real local cluster, through the
playbooks and the example inventory (its `local` environment) exactly as users
run them. The steps build on each other and run in file order."""

from __future__ import annotations

import json
import re
import secrets
import time

import pytest
import requests
from kubernetes.client import V1Pod
from kubernetes.client.exceptions import ApiException

from conftest import PLAYBOOKS, REPO, ansible_env, run_playbook, tag_in_registry

INVENTORY = REPO / "inventory/example"
A, B = "local-team-a", "local-team-b"  # hosts of the example inventory
JUPYTER_A, JUPYTER_B, CODE_A = "jupyter-team-a", "jupyter-team-b", "code-server-team-a"
JUPYTER_A_SELECTOR = "app.kubernetes.io/name=jupyter-server,app.kubernetes.io/instance=team-a"
JUPYTER_B_SELECTOR = "app.kubernetes.io/name=jupyter-server,app.kubernetes.io/instance=team-b"
CODE_A_SELECTOR = "app.kubernetes.io/name=code-server,app.kubernetes.io/instance=team-a"


class Lab:
    """What the steps share: the namespace, the images, the arguments every run
    gets, and what earlier steps saw."""

    def __init__(self, namespace, jupyter_image, code_server_image, kube_env, kube):
        self.namespace = namespace
        self.jupyter_image = jupyter_image
        self.kube = kube
        self.env = ansible_env(**kube_env)
        self.args = [
            "-i", str(INVENTORY), "--limit", "local",
            "-e", f"kube_namespace={namespace}",
            "-e", f"jupyter_server_image={jupyter_image}",
            "-e", f"code_server_image={code_server_image}",
        ]  # fmt: skip
        self.proof = secrets.token_hex(16)
        self.seen: dict = {}

    def play(self, name: str, *extra: str):
        return run_playbook(PLAYBOOKS / name, *self.args, *extra, env=self.env)

    def pod(self, selector: str) -> V1Pod:
        pods = self.kube.pods(self.namespace, selector)
        assert len(pods) == 1, [p.metadata.name for p in pods]
        return pods[0]

    def replicasets(self, name: str) -> set[str]:
        items = self.kube.apps.list_namespaced_replica_set(self.namespace).items
        return {rs.metadata.name for rs in items if rs.metadata.name.startswith(name + "-")}

    def versions(self) -> dict[str, str]:
        """resourceVersion of every object the roles manage."""
        ns = self.namespace
        k = self.kube
        listed = [
            *k.core.list_namespaced_secret(ns).items,
            *k.core.list_namespaced_config_map(ns).items,
            *k.core.list_namespaced_persistent_volume_claim(ns).items,
            *k.core.list_namespaced_service(ns).items,
            *k.apps.list_namespaced_deployment(ns).items,
            *k.net.list_namespaced_network_policy(ns).items,
            k.core.read_namespace(ns),
        ]
        return {
            f"{o.kind if hasattr(o, 'kind') and o.kind else type(o).__name__}/{o.metadata.name}": o.metadata.resource_version
            for o in listed
            if (o.metadata.labels or {}).get("app.kubernetes.io/managed-by") == "remotedev.jupyter"
            or o.metadata.name == ns
        }

    def jupyter_url(self, service: str) -> str:
        svc = self.kube.core.read_namespaced_service(service, self.namespace)
        return f"http://{svc.spec.cluster_ip}:{svc.spec.ports[0].port}/"


@pytest.fixture(scope="module")
def lab(namespace, jupyter_image, code_server_image, kube_env, kube):
    return Lab(namespace, jupyter_image, code_server_image, kube_env, kube)


def ready(pod: V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_check_mode_before_the_first_converge_creates_nothing(lab, kube):
    run = lab.play("deploy.yml", "--check", "--diff").check()
    assert f"Namespace {lab.namespace} does not exist yet; a converge would create Secret/{JUPYTER_A}" in run.output.replace(
        "\n        ", " "
    )
    assert run.changed(A) > 0 and run.changed(B) > 0
    with pytest.raises(ApiException) as missing:
        kube.core.read_namespace(lab.namespace)
    assert missing.value.status == 404


def test_first_converge_creates_every_object_and_pods_are_admitted(lab, kube):
    run = lab.play("deploy.yml").check()
    assert run.changed(A) > 0 and run.changed(B) > 0
    ns = kube.core.read_namespace(lab.namespace)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for name in (JUPYTER_A, JUPYTER_B):
        kube.core.read_namespaced_secret(name, lab.namespace)
        kube.core.read_namespaced_config_map(name, lab.namespace)
        kube.core.read_namespaced_persistent_volume_claim(name, lab.namespace)
        kube.core.read_namespaced_service(name, lab.namespace)
        kube.net.read_namespaced_network_policy(name, lab.namespace)
        deployment = kube.apps.read_namespaced_deployment(name, lab.namespace)
        assert deployment.status.available_replicas == 1
        managers = {(m.manager, m.operation) for m in deployment.metadata.managed_fields}
        assert ("remotedev-jupyter", "Apply") in managers
    for read in ("secret", "config_map", "persistent_volume_claim", "service"):
        getattr(kube.core, f"read_namespaced_{read}")(CODE_A, lab.namespace)
    assert kube.apps.read_namespaced_deployment(CODE_A, lab.namespace).status.available_replicas == 1
    with pytest.raises(ApiException) as missing:
        kube.apps.read_namespaced_deployment("code-server-team-b", lab.namespace)
    assert missing.value.status == 404
    # admitted under `restricted`, and running as the image's unprivileged user
    for selector in (JUPYTER_A_SELECTOR, JUPYTER_B_SELECTOR, CODE_A_SELECTOR):
        pod = lab.pod(selector)
        assert ready(pod)
        assert pod.spec.security_context.run_as_user == 1000
        assert pod.spec.containers[0].security_context.read_only_root_filesystem is True
    # and the namespace really enforces it
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged-probe"},
        "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]},
    }
    with pytest.raises(ApiException) as refused:
        kube.core.create_namespaced_pod(lab.namespace, privileged, dry_run="All")
    assert refused.value.status == 403 and "violates PodSecurity" in refused.value.body
    lab.seen["summary"] = run.output


def test_connection_summary_is_usable_without_the_token(lab, kube):
    token = kube.secret_values(lab.namespace, JUPYTER_A)["token"]
    summary = lab.seen["summary"]
    assert f"http://{JUPYTER_A}.{lab.namespace}.svc.cluster.local:8888/" in summary
    assert f"port-forward svc/{JUPYTER_A}" in summary
    assert "Existing Jupyter Server" in summary and "?token=<token>" in summary
    assert token not in summary


def test_servers_answer_and_run_code_in_a_kernel(lab):
    code = f"open('/home/jovyan/work/proof.txt', 'w').write('{lab.proof}'); import os; print(os.getuid())"
    run = lab.play("status.yml", "-e", json.dumps({"jupyter_server_status_code": code})).check()
    for name in (JUPYTER_A, JUPYTER_B):
        assert re.search(rf"Jupyter Server {lab.namespace}/{name}", run.output)
    assert run.output.count("Server: 2.21.1, kernelspecs") == 2
    assert run.output.count("Execution: ok 1000") == 2


def test_code_server_reaches_the_shared_server_with_the_handed_token(lab, kube):
    pod = lab.pod(CODE_A_SELECTOR).metadata.name
    script = (
        "const u = process.env.JUPYTER_SERVER_CONNECT_URL.replace('?token=', 'api/status?token=');"
        "Promise.all([fetch(u), fetch(process.env.JUPYTER_SERVER_URL + 'api/status')])"
        ".then(([a, b]) => console.log('with-token=' + a.status + ' without=' + b.status))"
    )
    out = kube.exec(lab.namespace, pod, ["node", "-e", script])
    assert "with-token=200 without=403" in out, out
    assert kube.exec(lab.namespace, pod, ["printenv", "JUPYTER_SERVER_URL"]).strip() == (
        f"http://{JUPYTER_A}.{lab.namespace}.svc.cluster.local:8888/"
    )


def test_second_converge_changes_nothing(lab):
    before = {s: lab.pod(s).metadata.uid for s in (JUPYTER_A_SELECTOR, JUPYTER_B_SELECTOR, CODE_A_SELECTOR)}
    versions = lab.versions()
    run = lab.play("deploy.yml").check()
    assert run.changed(A) == 0 and run.changed(B) == 0, run.output[-4000:]
    assert lab.versions() == versions
    assert {s: lab.pod(s).metadata.uid for s in before} == before


def test_check_diff_shows_the_change_and_changes_nothing(lab):
    versions = lab.versions()
    run = lab.play("deploy.yml", "--check", "--diff", "-e", "jupyter_server_cull_idle_timeout=1234").check()
    assert re.search(r"^-\s+c\.MappingKernelManager\.cull_idle_timeout = 1800$", run.output, re.M), run.output[-4000:]
    assert re.search(r"^\+\s+c\.MappingKernelManager\.cull_idle_timeout = 1234$", run.output, re.M)
    assert re.search(r"^\+\s+remotedev\.jupyter/config-checksum: ", run.output, re.M)
    assert run.changed(A) > 0 and run.changed(B) > 0
    assert lab.versions() == versions


def test_changing_one_setting_rolls_that_pod_once(lab, kube):
    pod_a, pod_b, code = (lab.pod(s) for s in (JUPYTER_A_SELECTOR, JUPYTER_B_SELECTOR, CODE_A_SELECTOR))
    replicasets = lab.replicasets(JUPYTER_A)
    run = lab.play("deploy.yml", "--limit", A, "-e", "jupyter_server_cull_idle_timeout=1234").check()
    assert run.changed(A) > 0
    new_a = lab.pod(JUPYTER_A_SELECTOR)
    assert new_a.metadata.uid != pod_a.metadata.uid and ready(new_a)
    assert len(lab.replicasets(JUPYTER_A) - replicasets) == 1
    # nothing else rolled
    assert lab.pod(JUPYTER_B_SELECTOR).metadata.uid == pod_b.metadata.uid
    assert lab.pod(CODE_A_SELECTOR).metadata.uid == code.metadata.uid
    config = kube.exec(lab.namespace, new_a.metadata.name, ["cat", "/etc/jupyter/jupyter_server_config.py"])
    assert "c.MappingKernelManager.cull_idle_timeout = 1234" in config
    lab.args += ["-e", "jupyter_server_cull_idle_timeout=1234"]  # the new normal from here on


def test_the_same_setting_again_rolls_nothing(lab):
    uid = lab.pod(JUPYTER_A_SELECTOR).metadata.uid
    replicasets = lab.replicasets(JUPYTER_A)
    run = lab.play("deploy.yml").check()  # team-b takes the setting now; team-a has it already
    assert run.changed(A) == 0, run.output[-4000:]
    assert lab.pod(JUPYTER_A_SELECTOR).metadata.uid == uid
    assert lab.replicasets(JUPYTER_A) == replicasets


def changed_lines(output: str) -> list[str]:
    """The + and - lines of the diffs in a playbook's output."""
    return [
        re.sub(r"^([-+])\s+(?:-\s+)?", r"\1 ", line.rstrip())  # indentation and YAML list dashes dropped
        for line in output.splitlines()
        if re.match(r"^[-+]\s", line)
    ]


def test_upgrading_the_image_and_rolling_back_keep_data_and_tokens(lab, kube):
    """docs/runbooks/upgrade-image.md, step by step, with a promoted tag."""
    new_image = tag_in_registry(lab.jupyter_image, "upgrade-" + secrets.token_hex(4))
    tokens = {name: kube.secret_values(lab.namespace, name)["token"] for name in (JUPYTER_A, JUPYTER_B)}
    code = lab.pod(CODE_A_SELECTOR).metadata.uid
    # 2. the check shows the image line of each Deployment and changes nothing
    versions = lab.versions()
    check = lab.play("deploy.yml", "--check", "--diff", "-e", f"jupyter_server_image={new_image}").check()
    assert lab.versions() == versions
    changed = changed_lines(check.output)
    assert sorted(line for line in changed if " image: " in line) == sorted(
        [f"- image: {lab.jupyter_image}", f"+ image: {new_image}"] * 2
    ), changed
    # besides the digest label of the pod template, which the role waits on,
    # and the generation the API server counts up on every change of a spec
    others = [
        line
        for line in changed
        if " image: " not in line and not re.match(r"^[-+] (remotedev\.jupyter/pod-template|generation): \w+$", line)
    ]
    assert others == [], others
    # 3. roll out: each Jupyter pod is replaced, and nothing else
    for image in (new_image, lab.jupyter_image):  # then roll back to the previous reference
        pods = {s: lab.pod(s).metadata.uid for s in (JUPYTER_A_SELECTOR, JUPYTER_B_SELECTOR)}
        lab.play("deploy.yml", "-e", f"jupyter_server_image={image}").check()
        for selector, uid in pods.items():
            pod = lab.pod(selector)
            assert pod.metadata.uid != uid and ready(pod), selector
            assert pod.spec.containers[0].image == image
            # the notebooks on the PVC survive both directions
            assert kube.exec(lab.namespace, pod.metadata.name, ["cat", "/home/jovyan/work/proof.txt"]) == lab.proof
        assert lab.pod(CODE_A_SELECTOR).metadata.uid == code
        assert {name: kube.secret_values(lab.namespace, name)["token"] for name in tokens} == tokens
        status = lab.play("status.yml").check()
        assert status.output.count("Server: 2.21.1, kernelspecs") == 2


def login(url: str, password: str) -> int:
    """Log in like a browser (XSRF cookie, form post); 302 on success."""
    session = requests.Session()
    session.get(url + "login", timeout=30)
    answer = session.post(
        url + "login",
        data={"_xsrf": session.cookies.get("_xsrf"), "password": password},
        allow_redirects=False,
        timeout=30,
    )
    return answer.status_code


def test_rotating_the_password_at_vvv_leaks_no_secret(lab, kube):
    token_before = kube.secret_values(lab.namespace, JUPYTER_A)["token"]
    password = "pw-" + secrets.token_urlsafe(18)
    rotate = lab.play("rotate_password.yml", "-vvv", "--limit", A, "-e", f"new_password={password}", "-e", "rotate_token=true")
    rotate.check()
    converge = lab.play("deploy.yml", "-vvv").check()
    assert converge.changed() == 0  # the rotated hash and token are kept
    jupyter = kube.secret_values(lab.namespace, JUPYTER_A)
    other = kube.secret_values(lab.namespace, JUPYTER_B)
    code = kube.secret_values(lab.namespace, CODE_A)
    assert jupyter["token"] != token_before and jupyter["password-hash"].startswith("argon2:")
    secrets_seen = {
        "new password": password,
        "new token": jupyter["token"],
        "old token": token_before,
        "team-b token": other["token"],
        "password hash": jupyter["password-hash"].split("$")[-1],
        "code-server hash": code["hashed-password"].split("$")[-1],
        "code-server password": code["password"],
    }
    for output in (rotate.output, converge.output):
        assert "<<< caused by >>>" not in output
        leaked = [what for what, value in secrets_seen.items() if value in output]
        assert not leaked, f"found in -vvv output: {leaked}"
    # the rolled pod took the new password and token
    url = lab.jupyter_url(JUPYTER_A)
    assert login(url, password) == 302
    assert login(url, "not-the-password") != 302
    status = requests.get(url + "api/status", headers={"Authorization": f"token {jupyter['token']}"}, timeout=30)
    assert status.status_code == 200
    old = requests.get(url + "api/status", headers={"Authorization": f"token {token_before}"}, timeout=30)
    assert old.status_code == 403


def test_teardown_removes_everything_but_the_volumes(lab, kube):
    pvcs = {n: kube.core.read_namespaced_persistent_volume_claim(n, lab.namespace).metadata.uid for n in (JUPYTER_A, CODE_A)}
    pod_b = lab.pod(JUPYTER_B_SELECTOR).metadata.uid
    lab.play("teardown.yml", "--limit", A).check()
    for name in (JUPYTER_A, CODE_A):
        for read in (kube.core.read_namespaced_secret, kube.core.read_namespaced_config_map,
                     kube.core.read_namespaced_service, kube.apps.read_namespaced_deployment,
                     kube.net.read_namespaced_network_policy):  # fmt: skip
            with pytest.raises(ApiException) as gone:
                read(name, lab.namespace)
            assert gone.value.status == 404, (read.__name__, name)
        assert kube.core.read_namespaced_persistent_volume_claim(name, lab.namespace).metadata.uid == pvcs[name]
    assert kube.pods(lab.namespace, JUPYTER_A_SELECTOR) == []
    assert lab.pod(JUPYTER_B_SELECTOR).metadata.uid == pod_b
    lab.seen["pvcs"] = pvcs


def test_a_new_converge_reattaches_the_same_data(lab, kube):
    lab.play("deploy.yml", "--limit", A).check()
    for name, uid in lab.seen["pvcs"].items():
        assert kube.core.read_namespaced_persistent_volume_claim(name, lab.namespace).metadata.uid == uid
    pod = lab.pod(JUPYTER_A_SELECTOR)
    assert kube.exec(lab.namespace, pod.metadata.name, ["cat", "/home/jovyan/work/proof.txt"]) == lab.proof


def test_purge_removes_the_volumes(lab, kube):
    pod_b = lab.pod(JUPYTER_B_SELECTOR).metadata.uid
    lab.play("teardown.yml", "--limit", A, "-e", "purge_data=true").check()
    deadline = time.monotonic() + 120
    for name in (JUPYTER_A, CODE_A):
        while True:
            try:
                kube.core.read_namespaced_persistent_volume_claim(name, lab.namespace)
            except ApiException as exc:
                assert exc.status == 404
                break
            assert time.monotonic() < deadline, f"PVC {name} still there"
            time.sleep(2)
    assert lab.pod(JUPYTER_B_SELECTOR).metadata.uid == pod_b
    assert kube.core.read_namespaced_persistent_volume_claim(JUPYTER_B, lab.namespace)
