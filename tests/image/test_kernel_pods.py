"""The pure part of remotedev_kernel_pods (roles/image/files): the kernel pod
from its template and a launch, and the reasons a kernel pod does not start.
The provisioner and the launcher talk to a cluster: Molecule runs them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "roles/image/files/remotedev_kernel_pods"
sys.path.insert(0, str(SOURCE))
sys.dont_write_bytecode = True  # no __pycache__ in the role's files

import remotedev_kernel_pods as kp  # noqa: E402
from remotedev_kernel_pods import launch  # noqa: E402

TEMPLATE = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"namespace": "team", "labels": {"app.kubernetes.io/instance": "data"}},
    "spec": {"containers": [{"name": "kernel", "image": "img:1",
                             "env": [{"name": "PATH", "value": "/opt/kernels/python3/bin:/usr/bin"},
                                     {"name": "PUBLIC_KEY", "value": "from-the-template"}]}]},
}
ENV = {"KERNEL_NAMESPACE": "team", "KERNEL_POD_NAME": "jovyan-k1", "JUPYTER_TOKEN_FILE": "/etc/x",
       "AWS_SECRET_ACCESS_KEY": "server-only"}


def launched(**extra):
    args = launch.parse_args(["--pod-template", "pod.json", "--kernel-id", "k1", "--response-address", "10.1.2.3:8877",
                              "--public-key", "PUB", "--port-range", "0..0", "--transport-encryption", ""])
    return kp.kernel_pod(TEMPLATE, ENV, {**launch.launch_values(args, {"KERNEL_LANGUAGE": "python", **extra})})


def test_pod_gets_name_labels_and_only_the_launch_env():
    pod = launched(KERNEL_USERNAME="alice")
    assert pod["metadata"]["name"] == "jovyan-k1" and pod["metadata"]["namespace"] == "team"
    assert pod["metadata"]["labels"] == {"app.kubernetes.io/instance": "data", "kernel_id": "k1",
                                         "component": "kernel", kp.USER_LABEL: "alice"}
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env == {"PATH": "/opt/kernels/python3/bin:/usr/bin", "KERNEL_ID": "k1", "KERNEL_LANGUAGE": "python",
                   "KERNEL_USERNAME": "alice", "RESPONSE_ADDRESS": "10.1.2.3:8877", "PUBLIC_KEY": "PUB",
                   "PORT_RANGE": "0..0"}
    assert "server-only" not in json.dumps(pod)
    assert TEMPLATE["metadata"]["labels"] == {"app.kubernetes.io/instance": "data"}  # the template is not changed


def test_no_user_no_user_label_and_user_names_become_label_values():
    assert kp.USER_LABEL not in launched()["metadata"]["labels"]
    assert launched(KERNEL_USERNAME="Bob Smith@corp")["metadata"]["labels"][kp.USER_LABEL] == "Bob-Smith-corp"
    assert len(kp.label_value("x" * 100)) == 63 and kp.label_value("-_a.") == "a"


@pytest.mark.parametrize(("env", "message"), [
    ({**ENV, "KERNEL_NAMESPACE": "elsewhere"}, "must be KERNEL_NAMESPACE"),
    ({"KERNEL_NAMESPACE": "team"}, "KERNEL_POD_NAME"),
])
def test_bad_launches_are_refused(env, message):
    with pytest.raises(kp.LaunchError, match=message):
        kp.kernel_pod(TEMPLATE, env, {"KERNEL_ID": "k1"})


def pod(phase="Pending", conditions=(), containers=()):
    return {"metadata": {"name": "p"}, "status": {"phase": phase, "conditions": list(conditions),
                                                  "containerStatuses": list(containers)}}


@pytest.mark.parametrize(("status", "reason", "fatal"), [
    (None, "", False),
    (pod(), "", False),
    (pod(containers=[{"name": "kernel", "state": {"waiting": {"reason": "ContainerCreating"}}}]), "", False),
    (pod(conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                      "message": "0/1 nodes are available: 1 Insufficient memory."}]),
     "not scheduled (Unschedulable): 0/1 nodes are available: 1 Insufficient memory.", False),
    (pod(containers=[{"name": "kernel", "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}]),
     "container kernel waiting (ErrImagePull): not found", False),
    (pod(containers=[{"name": "kernel", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}}}]),
     "container kernel waiting (ImagePullBackOff): Back-off pulling image \"x\"", True),
    (pod(containers=[{"name": "kernel", "state": {"waiting": {"reason": "InvalidImageName"}}}]),
     "container kernel waiting (InvalidImageName): no message", True),
    (pod("Failed", containers=[{"name": "kernel", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]),
     "container kernel terminated (OOMKilled, exit code 137): no message", True),
    (pod("Failed"), "pod Failed: no message", True),
    (pod("Running", containers=[{"name": "kernel", "state": {"running": {}}}]), "", False),
])
def test_pod_problem_names_the_reason(status, reason, fatal):
    assert kp.pod_problem(status) == (reason, fatal)


def test_pod_names_the_server_that_launched_it():
    pod = kp.kernel_pod(TEMPLATE, {**ENV, kp.SERVER_POD_ENV: "jupyter-data-5d9c7-x2k4p"}, {"KERNEL_ID": "k1"})
    assert pod["metadata"]["labels"][kp.SERVER_LABEL] == "jupyter-data-5d9c7-x2k4p"
    assert kp.SERVER_LABEL not in launched()["metadata"]["labels"]


def test_pod_names_the_server_process_that_launched_it():
    env = {**ENV, kp.SERVER_POD_ENV: "jupyter-data-5d9c7-x2k4p", kp.SERVER_BOOT_ENV: "0a1b2c3d4e5f"}
    assert kp.kernel_pod(TEMPLATE, env, {"KERNEL_ID": "k1"})["metadata"]["labels"][kp.SERVER_BOOT_LABEL] == "0a1b2c3d4e5f"
    # no boot without the pod: the pod's name is what the cleanup goes by
    env = {**ENV, kp.SERVER_BOOT_ENV: "0a1b2c3d4e5f"}
    assert kp.SERVER_BOOT_LABEL not in kp.kernel_pod(TEMPLATE, env, {"KERNEL_ID": "k1"})["metadata"]["labels"]


def named(name, server=None, phase="Running", deleted=False, boot=None):
    meta = {"name": name, "labels": {kp.SERVER_LABEL: server} if server else {}}
    if boot:
        meta["labels"][kp.SERVER_BOOT_LABEL] = boot
    if deleted:
        meta["deletionTimestamp"] = "2026-12-01T07:00:00Z"
    return {"metadata": meta, "status": {"phase": phase}}


def test_the_current_pod_is_the_first_not_being_deleted():
    # a restart: the OOM-killed pod on its way out, the new one of the same name
    old, new = named("ada-k1", phase="Failed", deleted=True), named("ada-k1", phase="Pending")
    assert kp.current_pod([old, new]) is new and kp.current_pod([new, old]) is new
    assert kp.current_pod([old]) is None and kp.current_pod([]) is None
    # a failed pod not yet deleted is still the kernel's: poll() sees it ended
    assert kp.current_pod([named("ada-k1", phase="Failed")])["status"]["phase"] == "Failed"


def test_orphans_are_the_kernel_pods_of_servers_gone_or_going():
    servers = [named("srv-new"), named("srv-rolling", phase="Pending"), named("srv-old", deleted=True),
               named("srv-dead", phase="Failed")]
    kernels = [named("k-new", "srv-new"), named("k-rolling", "srv-rolling"), named("k-old", "srv-old"),
               named("k-dead", "srv-dead"), named("k-gone", "srv-gone"), named("k-unknown"),
               named("k-deleting", "srv-gone", deleted=True)]
    assert kp.orphans(kernels, servers) == ["k-dead", "k-gone", "k-old", "k-unknown"]
    assert kp.orphans([], servers) == [] and kp.orphans(kernels[:1], servers) == []
    # server pod names longer than a label value still match
    long_name = "s" * 70
    assert kp.orphans([named("k", kp.label_value(long_name))], [named(long_name)]) == []


def test_orphans_include_the_kernel_pods_of_this_pods_earlier_server_process():
    """The server container restarted in its pod (its server OOM-killed): the
    pod's name is the same, its kernels are not the new process's."""
    servers = [named("srv-self"), named("srv-other")]
    kernels = [named("k-mine", "srv-self", boot="b2"), named("k-before-restart", "srv-self", boot="b1"),
               named("k-before-boot-labels", "srv-self"), named("k-other", "srv-other", boot="b1")]
    assert kp.orphans(kernels, servers, "srv-self", "b2") == ["k-before-boot-labels", "k-before-restart"]
    # without its own boot (an older server), only the gone servers' pods, as before
    assert kp.orphans(kernels, servers, "srv-self", "") == [] and kp.orphans(kernels, servers) == []


def test_the_cleanup_is_a_server_extension():
    assert kp._jupyter_server_extension_points() == [{"module": "remotedev_kernel_pods.cleanup"}]


def test_the_cleanup_loads_in_a_real_server_and_a_failure_does_not_stop_it(monkeypatch):
    """The extension as the role enables it (jpserver_extensions), in a real
    `jupyter server`: outside a cluster its Kubernetes call fails, which it
    logs while the server keeps serving. (Molecule's pod_kernels.yml proves
    the cleanup itself on the cluster.)"""
    from jupyter_probe import LocalServer, api  # pylint: disable=import-outside-toplevel

    for name, value in {"GP_NAMESPACE": "team", kp.KERNEL_SELECTOR_ENV: "app.kubernetes.io/name=jupyter-kernel",
                        kp.SERVER_SELECTOR_ENV: "app.kubernetes.io/name=jupyter-server", kp.SERVER_POD_ENV: "srv"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with LocalServer(extensions={"remotedev_kernel_pods": True}, extra_pythonpath=[str(SOURCE)]) as server:
        deadline = time.monotonic() + 30
        while "orphaned kernel pods could not be cleaned" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "orphaned kernel pods could not be cleaned" in server.log(), server.log()[-2000:]
        assert api(server.url, "api/status", server.token)["started"]
