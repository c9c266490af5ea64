"""Smoke test of the local cluster (tools/localcluster/cluster.py), through the real API.

An image is built offline from the debootstrap base, pushed to the local
registry and pulled by the kubelet; it runs as a Deployment behind a Service in
a namespace that enforces Pod Security `restricted`. From the host the Service
answers on its ClusterIP (kube-proxy); another pod resolves it by DNS name
(CoreDNS) and gets the same answer; a deny-all NetworkPolicy cuts that pod off
and removing it lets it in again (the engine enforces); a PVC of the default
StorageClass binds and keeps data across pod deletion; a privileged pod is
refused by admission; an Ingress of the local class routes a host name
through Traefik over HTTPS (certificate of the ingress CA) and HTTP redirects
to HTTPS.

Needs root and a running cluster (`make cluster-up`, or `cluster.py up`).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import ssl
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, config  # noqa: E402  (after the importorskip)
from kubernetes.client.rest import ApiException  # noqa: E402

from localcluster import dns, layout  # noqa: E402  (conftest.py puts tools/ on sys.path)

TOOL = Path(__file__).resolve().parents[1]  # the tool, above its tests
REPO = TOOL.parents[1]
CLUSTER = TOOL / "cluster.py"

RESTRICTED_CONTAINER = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def wait_for(check, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (ApiException, OSError) as error:  # not there yet
            last, result = error, None
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last})")


def cluster_env() -> dict[str, str]:
    output = subprocess.run([sys.executable, str(CLUSTER), "env"], check=True, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def env():
    if os.geteuid() != 0:
        pytest.fail("the cluster smoke test runs as root (it builds images and reaches ClusterIPs from the host)")
    values = cluster_env()
    if not Path(values["KUBECONFIG"]).exists():
        pytest.fail(f"no cluster: {values['KUBECONFIG']} is missing; run `make cluster-up` first")
    return values


@pytest.fixture(scope="module")
def api(env):
    api_client = config.new_client_from_config(config_file=env["KUBECONFIG"])
    core = client.CoreV1Api(api_client)
    node = wait_for(lambda: core.list_node().items, 30, "the node to be registered")[0]
    ready = {c.type: c.status for c in node.status.conditions}.get("Ready")
    assert ready == "True", f"node {node.metadata.name} is not Ready; see `cluster.py status`"
    return api_client


@pytest.fixture(scope="module")
def core(api):
    return client.CoreV1Api(api)


@pytest.fixture(scope="module")
def nonce():
    return secrets.token_hex(6)


@pytest.fixture(scope="module")
def namespace(core, nonce):
    name = f"smoke-{nonce}"
    core.create_namespace(
        {
            "metadata": {
                "name": name,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            }
        }
    )
    yield name
    core.delete_namespace(name)
    wait_for(lambda: name not in {n.metadata.name for n in core.list_namespace().items}, 120, f"namespace {name} to go")


@pytest.fixture(scope="module")
def image(env, nonce, tmp_path_factory):
    """A tiny image: the debootstrap base plus a page naming this run, pushed to the local registry."""
    podman = shutil.which("podman")
    if not podman:
        pytest.fail("podman is needed to build the smoke image (make system-deps)")
    base = (
        subprocess.run(
            [str(REPO / "scripts" / "debian-base-image"), "--push", env["REGISTRY"]],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    context = tmp_path_factory.mktemp("smoke-image")
    (context / "index.html").write_text(f"remotedev cluster smoke {nonce}\n", encoding="utf-8")
    (context / "Containerfile").write_text(
        f"FROM {base}\n"
        "COPY index.html /srv/www/index.html\n"
        "USER 1000:1000\n"
        "EXPOSE 8080\n"
        'CMD ["python3", "-m", "http.server", "8080", "--directory", "/srv/www"]\n',
        encoding="utf-8",
    )
    ref = f"{env['REGISTRY']}/remotedev/cluster-smoke:{nonce}"
    subprocess.run([podman, "build", "--quiet", "-t", ref, str(context)], check=True, capture_output=True)
    digest_file = context / "digest"
    subprocess.run(
        [podman, "push", "--quiet", "--tls-verify=false", "--digestfile", str(digest_file), ref],
        check=True,
        capture_output=True,
    )
    subprocess.run([podman, "rmi", ref], check=False, capture_output=True)
    return {"ref": ref, "digest": digest_file.read_text(encoding="utf-8").strip()}


def test_second_up_notices_the_running_cluster(env):
    result = subprocess.run([sys.executable, str(CLUSTER), "up"], capture_output=True, text=True, check=True)
    assert "cluster already up" in result.stdout
    assert result.stdout.splitlines()[-2:] == [f"KUBECONFIG={env['KUBECONFIG']}", f"REGISTRY={env['REGISTRY']}"]


def test_status_shows_every_component_running_and_healthy(env):
    result = subprocess.run(
        [sys.executable, str(CLUSTER), "status", "--json"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(result.stdout)
    assert set(status["components"]) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "containerd",
        "kubelet",
        "kube-proxy",
        "network-policies",
        "coredns",
        "hostpath-provisioner",
        "traefik",
    }
    assert {c["health"] for c in status["components"].values()} == {"ok"}
    assert status["node_ready"] is True
    assert 0 < status["memory_rss_kib"] < 2 * 1024 * 1024


def test_cluster_dns_answers_for_the_api_service(env):
    assert dns.dns_query(layout.DNS_SERVICE_IP, "kubernetes.default.svc.cluster.local") == [layout.API_SERVICE_IP]


def pod_spec(image_ref: str, command=None, volumes=None, mounts=None, restart="Always", env=None) -> dict:
    container = {
        "name": "main",
        "image": image_ref,
        "imagePullPolicy": "Always",
        "securityContext": RESTRICTED_CONTAINER,
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
    }
    if command:
        container["command"] = command
    if mounts:
        container["volumeMounts"] = mounts
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    spec = {
        "restartPolicy": restart,
        "securityContext": {"runAsNonRoot": True, "fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "terminationGracePeriodSeconds": 2,
    }
    if volumes:
        spec["volumes"] = volumes
    return spec


def run_pod(core, namespace: str, name: str, spec: dict, timeout: float = 120) -> str:
    """Runs a pod to completion and returns its log."""
    core.create_namespaced_pod(namespace, {"metadata": {"name": name}, "spec": spec})

    def finished():
        phase = core.read_namespaced_pod(name, namespace).status.phase
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_for(finished, timeout, f"pod {name} to finish")
    logs = core.read_namespaced_pod_log(name, namespace)
    assert phase == "Succeeded", f"pod {name} {phase}:\n{logs}"
    return logs


def delete_pod(core, namespace: str, name: str) -> None:
    core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)

    def gone():
        try:
            core.read_namespaced_pod(name, namespace)
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(gone, 60, f"pod {name} to be deleted")


@pytest.fixture(scope="module")
def web(api, core, namespace, image):
    """Deployment + Service running the pushed image; returns the Service's ClusterIP."""
    apps = client.AppsV1Api(api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **pod_spec(image["ref"]),
                        "containers": [
                            {
                                **pod_spec(image["ref"])["containers"][0],
                                "ports": [{"name": "http", "containerPort": 8080}],
                                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                            }
                        ],
                    },
                },
            },
        },
    )
    service = core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
    )
    wait_for(
        lambda: (apps.read_namespaced_deployment("web", namespace).status.available_replicas or 0) >= 1,
        180,
        "deployment web to become available",
    )
    return service.spec.cluster_ip


def test_pod_runs_the_image_pulled_from_the_local_registry(core, namespace, image, web):
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 1
    status = pods[0].status.container_statuses[0]
    assert status.ready
    repository = image["ref"].rsplit(":", 1)[0]
    # The kubelet pulled it from the registry: the runtime records the
    # registry's manifest digest.
    assert status.image_id == f"{repository}@{image['digest']}"


def test_service_answers_from_the_host_through_its_cluster_ip(web, nonce):
    def answer():
        with urllib.request.urlopen(f"http://{web}/", timeout=3) as response:
            return response.read().decode()

    body = wait_for(answer, 30, f"the Service ClusterIP {web} to answer from the host")
    assert f"remotedev cluster smoke {nonce}" in body


def test_another_pod_resolves_the_service_by_dns_name(core, namespace, image, web, nonce):
    fqdn = f"web.{namespace}.svc.cluster.local"
    script = (
        "import json, socket, urllib.request\n"
        f"fqdn = {fqdn!r}\n"
        "result = {'fqdn': socket.gethostbyname(fqdn), 'short': socket.gethostbyname('web'),\n"
        "          'body': urllib.request.urlopen('http://' + fqdn + '/', timeout=10).read().decode()}\n"
        "print(json.dumps(result))\n"
    )
    logs = run_pod(core, namespace, "dns-client", pod_spec(image["ref"], ["python3", "-c", script], restart="Never"))
    result = json.loads(logs.strip().splitlines()[-1])
    assert result["fqdn"] == web
    assert result["short"] == web
    assert f"remotedev cluster smoke {nonce}" in result["body"]


# Polls until the connection has the wanted outcome (the engine applies a
# policy change within a second or so), then prints it; exit 1 if it never does.
REACH_SCRIPT = """
import sys, time, urllib.request
url, want = sys.argv[1], sys.argv[2]
deadline, seen = time.monotonic() + 20, None
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2).read()
        seen = "open"
    except OSError:
        seen = "blocked"
    if seen == want:
        break
    time.sleep(0.5)
print(seen)
sys.exit(0 if seen == want else 1)
"""


def test_a_deny_all_policy_blocks_a_pod_and_removing_it_restores(api, core, namespace, image, web, nonce):
    networking = client.NetworkingV1Api(api)
    url = f"http://web.{namespace}.svc.cluster.local/"
    policy = {
        "metadata": {"name": "deny-all-to-web"},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"]},
    }
    networking.create_namespaced_network_policy(namespace, policy)
    try:
        spec = pod_spec(image["ref"], ["python3", "-c", REACH_SCRIPT, url, "blocked"], restart="Never")
        assert run_pod(core, namespace, "policy-blocked", spec).strip().endswith("blocked")
        # Traffic of root on the node is never filtered (the engine's own rule,
        # for the kubelet's probes): the host still gets its answer.
        with urllib.request.urlopen(f"http://{web}/", timeout=3) as response:
            assert f"remotedev cluster smoke {nonce}" in response.read().decode()
    finally:
        networking.delete_namespaced_network_policy("deny-all-to-web", namespace)
    spec = pod_spec(image["ref"], ["python3", "-c", REACH_SCRIPT, url, "open"], restart="Never")
    assert run_pod(core, namespace, "policy-removed", spec).strip().endswith("open")


def test_claim_binds_and_data_survives_pod_recreation(core, namespace, image, nonce):
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": "data"},
            # No storageClassName: the default StorageClass must serve it.
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}},
        },
    )
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    mounts = [{"name": "data", "mountPath": "/data"}]
    secret = f"written-by-first-pod-{nonce}"
    writer = pod_spec(
        image["ref"],
        ["sh", "-c", 'echo "$PROOF" > /data/proof && cat /data/proof'],
        volumes,
        mounts,
        restart="Never",
        env={"PROOF": secret},
    )
    assert run_pod(core, namespace, "store", writer).strip() == secret

    claim = core.read_namespaced_persistent_volume_claim("data", namespace)
    assert claim.status.phase == "Bound"
    assert claim.spec.storage_class_name == "standard"
    volume = core.read_persistent_volume(claim.spec.volume_name)
    assert volume.metadata.annotations["pv.kubernetes.io/provisioned-by"] == "remotedev.local/hostpath"
    host_path = Path(volume.spec.local.path)
    assert (host_path / "proof").read_text(encoding="utf-8").strip() == secret

    delete_pod(core, namespace, "store")
    reader = pod_spec(image["ref"], ["cat", "/data/proof"], volumes, mounts, restart="Never")
    assert run_pod(core, namespace, "store", reader).strip() == secret

    # Reclaim policy Delete: releasing the claim removes the volume and its data.
    delete_pod(core, namespace, "store")
    core.delete_namespaced_persistent_volume_claim("data", namespace)

    def volume_gone():
        try:
            core.read_persistent_volume(volume.metadata.name)
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(volume_gone, 60, f"{volume.metadata.name} to be deleted after its claim")
    assert not host_path.exists()


def test_privileged_pod_is_rejected_by_pod_security_admission(core, namespace, image):
    spec = pod_spec(image["ref"])
    # Compliant in every other respect (privileged excludes allowPrivilegeEscalation=false).
    context = {k: v for k, v in RESTRICTED_CONTAINER.items() if k != "allowPrivilegeEscalation"}
    spec["containers"][0]["securityContext"] = {**context, "privileged": True}
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_pod(namespace, {"metadata": {"name": "privileged"}, "spec": spec})
    assert raised.value.status == 403
    message = json.loads(raised.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "must not set securityContext.privileged=true" in message
    assert "privileged" not in {p.metadata.name for p in core.list_namespaced_pod(namespace).items}


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a name (Host header, SNI, certificate check) at a fixed address:
    the ingress's names resolve to loopback in browsers, not in every resolver."""

    def __init__(self, host: str, address: str, **kwargs):
        super().__init__(host, **kwargs)
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def ingress_get(host: str, path: str = "/", tls: bool = True) -> tuple[int, dict, str]:
    if tls:
        context = ssl.create_default_context(cafile=str(layout.STATE.pki / "ingress-ca.crt"))
        conn = PinnedHTTPSConnection(host, "127.0.0.1", port=layout.INGRESS_HTTPS_PORT, timeout=5, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", layout.INGRESS_HTTP_PORT, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_an_ingress_of_the_local_class_routes_over_tls_and_http_redirects(api, namespace, web, nonce):
    networking = client.NetworkingV1Api(api)
    host = f"smoke-{nonce}.apps.{layout.INGRESS_DOMAIN}"
    networking.create_namespaced_ingress(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "ingressClassName": layout.INGRESS_CLASS,
                "rules": [
                    {
                        "host": host,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"name": "http"}}},
                                }
                            ]
                        },
                    }
                ],
            },
        },
    )

    def routed():
        status, _headers, body = ingress_get(host)
        return body if status == 200 else None

    assert f"remotedev cluster smoke {nonce}" in wait_for(routed, 30, f"https://{host} to route to the Service")
    status, headers, _body = ingress_get(host, "/index.html?x=1", tls=False)
    assert status in (301, 302, 307, 308)
    port = "" if layout.INGRESS_HTTPS_PORT == 443 else f":{layout.INGRESS_HTTPS_PORT}"
    assert headers["Location"] == f"https://{host}{port}/index.html?x=1"
    # The controller publishes where it serves the Ingress.
    published = wait_for(
        lambda: networking.read_namespaced_ingress("web", namespace).status.load_balancer.ingress,
        30,
        "the Ingress status to name the controller's address",
    )
    assert published[0].ip == layout.node_ip()
    # A name no Ingress claims is not routed.
    assert ingress_get(f"other-{nonce}.apps.{layout.INGRESS_DOMAIN}")[0] == 404
