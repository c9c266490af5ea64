"""Kernels in their own pods (jupyter_server_pod_kernels), for real on the local
cluster: the image role builds the image with image_pod_kernels (content
tagged: no rebuild when it is in the registry), deploy.yml deploys a server
with two pod kernels into a fresh namespace, and a client of the server's REST
API and websockets starts a pod kernel, runs code in it, writes a file the
server lists, sees its pod (restricted, labelled, no token), shuts it down
(pod deleted); a killed kernel pod is restarted by the server; a kernel whose
image cannot be pulled fails naming the reason within its launch timeout; the
server's ServiceAccount may manage pods in its namespace only."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest

from conftest import PLAYBOOKS, REGISTRY, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "image"))
from jupyter_probe import KernelSocket, api  # noqa: E402  pylint: disable=wrong-import-position

LAUNCH_TIMEOUT = 60
KERNEL = "python3-pod"
BROKEN = "python3-missing-image"


def kubectl(kube_env, *args: str, check: bool = True) -> str:
    done = subprocess.run(["kubectl", *args], env=dict(os.environ, **kube_env), capture_output=True, text=True,
                          timeout=120, check=False)
    if check:
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def wait(condition, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s: {what}")


def kernel_pods(kube, namespace: str, kernel_id: str) -> list:
    return kube.core.list_namespaced_pod(namespace, label_selector=f"kernel_id={kernel_id}").items


@pytest.fixture(scope="module")
def pod_kernel_image():
    run = run_playbook(PLAYBOOKS / "build_image.yml", extra_vars={
        "image_pod_kernels": True, "image_registry": REGISTRY, "image_registry_tls": False, "image_push": True,
        "image_repository": "remotedev/jupyter-server-pod-kernels",
        # make image-base's debootstrap base, as make images uses: the role's
        # public default would need a registry mirror this machine lacks.
        "image_pip_base_image": f"{REGISTRY}/remotedev/debian:bookworm"})
    run.check()
    ref = run.task("Show the image reference")[0].msg
    assert ref.startswith(f"{REGISTRY}/remotedev/jupyter-server-pod-kernels"), ref
    return ref


@pytest.fixture(scope="module")
def server(pod_kernel_image, kube, kube_env, tmp_path_factory):
    namespace = f"rdj-podk-{secrets.token_hex(3)}"
    endpoints = json.loads(kubectl(kube_env, "-n", "default", "get", "endpoints", "kubernetes", "-o", "json"))
    api_to = [{"ipBlock": {"cidr": address["ip"] + "/32"}}
              for subset in endpoints["subsets"] for address in subset["addresses"]]
    small = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
    inventory = tmp_path_factory.mktemp("podk") / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"jupyter_servers": {"hosts": {"podk": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "code_server_enabled": False,
        "jupyter_server_namespace": namespace, "jupyter_server_image": pod_kernel_image,
        "jupyter_server_storage_size": "1Gi",
        "jupyter_server_resources": small,
        "jupyter_server_pod_kernels": [
            {"name": KERNEL, "display_name": "Python 3 (own pod)", "resources": small},
            {"name": BROKEN, "image": f"{REGISTRY}/remotedev/no-such-image:none", "resources": small,
             "launch_timeout": LAUNCH_TIMEOUT},
        ],
        "jupyter_server_pod_kernel_api_to": api_to,
    }}}}}}))
    run = run_playbook(PLAYBOOKS / "deploy.yml", "-i", str(inventory), env=kube_env)
    try:
        run.check()
        name = "jupyter-podk"
        token = kubectl(kube_env, "-n", namespace, "get", "secret", name, "-o", "jsonpath={.data.token}")
        import base64

        token = base64.b64decode(token).decode()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        forward = subprocess.Popen(["kubectl", "-n", namespace, "port-forward", f"svc/{name}", f"{port}:8888"],
                                   env=dict(os.environ, **kube_env), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait(lambda: _answers(url), 60, "the port-forward answers")
            yield {"namespace": namespace, "name": name, "url": url, "token": token}
        finally:
            forward.terminate()
            forward.wait(timeout=10)
    finally:
        kubectl(kube_env, "delete", "namespace", namespace, "--wait=false", check=False)


def _answers(url: str) -> bool:
    try:
        api(url, "api")
        return True
    except (OSError, urllib.error.URLError):
        return False


def test_pod_kernel_runs_code_in_its_own_restricted_pod(server, kube):
    ns, url, token = server["namespace"], server["url"], server["token"]
    specs = api(url, "api/kernelspecs", token)["kernelspecs"]
    assert specs[KERNEL]["spec"]["metadata"]["kernel_provisioner"]["provisioner_name"] == \
        "remotedev-kubernetes-provisioner"
    assert "python3" in specs  # the image's in-server kernel is still offered
    with KernelSocket(url, token, kernel_name=KERNEL, timeout=LAUNCH_TIMEOUT + 60) as kernel:
        kernel_id = kernel.kernel["id"]
        out = kernel.execute("import os, socket; open('from-pod.txt', 'w').write(socket.gethostname()); "
                             "print(socket.gethostname(), os.getuid(), os.getcwd())")
        assert out["status"] == "ok", out
        hostname, uid, cwd = out["stdout"].split()
        pods = kernel_pods(kube, ns, kernel_id)
        assert [p.metadata.name for p in pods] == [hostname]  # the code ran in the kernel's own pod
        assert uid == "1000" and cwd == "/home/jovyan/work"
        pod = pods[0]
        labels = pod.metadata.labels
        assert labels["app.kubernetes.io/name"] == "jupyter-kernel"
        assert labels["app.kubernetes.io/instance"] == "podk"
        assert labels["remotedev.jupyter/kernel"] == KERNEL and labels["component"] == "kernel"
        assert pod.spec.automount_service_account_token is False
        assert not [m for c in pod.spec.containers for m in c.volume_mounts or []
                    if "serviceaccount" in m.mount_path]
        assert pod.spec.security_context.run_as_non_root is True
        assert pod.spec.containers[0].resources.limits["memory"] == "512Mi"
        # none of the server's environment (its token file, its provisioner's settings, its kernelspecs)
        leaked = kernel.execute("import os; print(sorted(k for k in os.environ if 'TOKEN' in k or k.startswith('GP_') "
                                "or k in ('JUPYTER_PATH', 'JUPYTERLAB_SETTINGS_DIR')))")["stdout"].strip()
        assert leaked == "[]", leaked
        # the file the kernel pod wrote is on the server's volume
        listing = api(url, "api/contents", token)["content"]
        assert "from-pod.txt" in [entry["name"] for entry in listing]
    # KernelSocket's exit shut the kernel down: its pod goes
    wait(lambda: not kernel_pods(kube, ns, kernel_id), 60, "the kernel's pod is deleted after shutdown")


def test_killed_kernel_pod_is_restarted_by_the_server(server, kube):
    ns, url, token = server["namespace"], server["url"], server["token"]
    with KernelSocket(url, token, kernel_name=KERNEL, timeout=LAUNCH_TIMEOUT + 60) as kernel:
        kernel_id = kernel.kernel["id"]
        assert kernel.execute("state = 42")["status"] == "ok"
        first = kernel_pods(kube, ns, kernel_id)[0]
        kube.core.delete_namespaced_pod(first.metadata.name, ns, grace_period_seconds=0)
        # the server notices the dead kernel and restarts it: a new pod for the same kernel id
        wait(lambda: [p for p in kernel_pods(kube, ns, kernel_id)
                      if p.metadata.uid != first.metadata.uid and p.status.phase == "Running"
                      and p.metadata.deletion_timestamp is None],
             LAUNCH_TIMEOUT + 60, "a new kernel pod after the first was killed")
        model = wait(lambda: [k for k in api(url, "api/kernels", token) if k["id"] == kernel_id
                              and k["execution_state"] in ("idle", "busy")],
                     LAUNCH_TIMEOUT + 60, "the restarted kernel is up")
        assert model

    with KernelSocket(url, token, kernel_name=KERNEL, timeout=LAUNCH_TIMEOUT + 60) as other:
        assert other.execute("print(6 * 7)")["stdout"].strip() == "42"  # the server keeps serving


def test_missing_image_fails_with_the_reason_in_bounded_time(server, kube):
    ns, url, token = server["namespace"], server["url"], server["token"]
    started = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as failed:
        api(url, "api/kernels", token, method="POST", body={"name": BROKEN}, timeout=LAUNCH_TIMEOUT + 60)
    elapsed = time.monotonic() - started
    message = json.loads(failed.value.read().decode())["message"]
    assert failed.value.code == 500
    assert f"({BROKEN}) did not start" in message and ("ImagePullBackOff" in message or "ErrImagePull" in message), message
    assert elapsed < LAUNCH_TIMEOUT + 30, elapsed
    wait(lambda: not kube.core.list_namespaced_pod(ns, label_selector=f"remotedev.jupyter/kernel={BROKEN}").items,
         60, "the failed kernel's pod is deleted")


def test_server_account_manages_pods_in_its_namespace_only(server, kube_env):
    account = f"system:serviceaccount:{server['namespace']}:{server['name']}"
    for verb, resource, namespace, allowed in [
        ("create", "pods", server["namespace"], "yes"),
        ("delete", "pods", server["namespace"], "yes"),
        ("create", "pods", "default", "no"),
        ("list", "pods", "kube-system", "no"),
        ("get", "secrets", server["namespace"], "no"),
        ("create", "namespaces", "", "no"),
        ("create", "pods --subresource=exec", server["namespace"], "no"),
        ("patch", "pods", server["namespace"], "no"),
    ]:
        answer = kubectl(kube_env, "auth", "can-i", verb, *resource.split(), "--as", account,
                         *(["-n", namespace] if namespace else []), check=False).strip()
        assert answer == allowed, f"{account} can-i {verb} {resource} -n {namespace}: {answer}"
