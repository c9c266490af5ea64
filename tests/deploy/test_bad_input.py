"""Bad input gets a clear error naming the variable, before anything is
changed in the cluster wherever it can be checked up front.

The table runs in ONE playbook run: every case is a host of a generated
inventory (its variables are the case, each in a fresh namespace), so that
60 cases cost about what a few runs did. Each host must fail with its
message, change nothing, and its namespace must not exist afterwards (read
through the real API)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from conftest import PLAYBOOKS, TEST_PLAYBOOKS, run_playbook

JUPYTER_IMAGE = "127.0.0.1:5000/remotedev/jupyter-server:unused"
CODE_SERVER_IMAGE = "127.0.0.1:5000/remotedev/code-server:unused"
FRONTEND_IMAGE = "127.0.0.1:5000/remotedev/frontend:unused"
LONG = "x" * 64


@dataclass(frozen=True)
class Case:
    id: str  # also the inventory host, so the instance name: an RFC 1123 label
    role: str
    values: dict
    message: str
    namespace_is_fresh: bool = True  # False: the case names an existing namespace itself


def J(id_, message, **values):  # noqa: N802 - reads as a table row
    return Case(id_, "jupyter_server", values, message)


def C(id_, message, **values):  # noqa: N802
    return Case(id_, "code_server", values, message)


def F(id_, message, **values):  # noqa: N802
    return Case(id_, "frontend", values, message)


CASES = [
    # ------------------------------------------------ names
    J("namespace", 'Invalid name: namespace "Team_NS"', jupyter_server_namespace="Team_NS"),
    J("instance", 'instance "team.a"', jupyter_server_instance="team.a"),
    J("object-name", 'jupyter_server_name "9lives"', jupyter_server_name="9lives"),
    J("storage-class-name", 'jupyter_server_storage_class: "Fast_SSD" is not a DNS subdomain', jupyter_server_storage_class="Fast_SSD"),
    J("ingress-class-name", 'jupyter_server_ingress_class_name: "Nginx Class"', jupyter_server_ingress_class_name="Nginx Class"),
    J("pull-secret-name", 'jupyter_server_image_pull_secrets[0]: "Reg_Secret"', jupyter_server_image_pull_secrets=["Reg_Secret"]),
    J("priority-class", 'jupyter_server_priority_class_name: "High Priority"', jupyter_server_priority_class_name="High Priority"),
    J("cluster-domain", 'jupyter_server_cluster_domain: "cluster local"', jupyter_server_cluster_domain="cluster local"),
    # ------------------------------------------------ numbers and ranges
    J("port-range", "jupyter_server_port=70000 is out of range: it must be 1-65535", jupyter_server_port=70000),
    J("port-type", "argument 'jupyter_server_port' is of type str and we were unable to convert to int", jupyter_server_port="http"),
    J("service-port", "jupyter_server_service_port=0 is out of range", jupyter_server_service_port=0),
    J("replicas", "jupyter_server_replicas=2 is out of range: it must be 0-1 (kernels live in one process)", jupyter_server_replicas=2),
    J("uid-root", "jupyter_server_uid=0 is out of range: it must be 1-2147483647 (never root)", jupyter_server_uid=0),
    J("grace-negative", "jupyter_server_termination_grace_period=-5 is out of range", jupyter_server_termination_grace_period=-5),
    J("cull-interval", "jupyter_server_cull_interval=0 is out of range", jupyter_server_cull_interval=0),
    J("wait-timeout", "jupyter_server_wait_timeout=0 is out of range", jupyter_server_wait_timeout=0),
    J("startup-timeout", "jupyter_server_startup_timeout=5 is out of range", jupyter_server_startup_timeout=5),
    J("token-length", "jupyter_server_token_length=8 is out of range", jupyter_server_token_length=8),
    J("gpu-count", "jupyter_server_gpu_count=-1 is out of range", jupyter_server_gpu_count=-1),
    # ------------------------------------------------ quantities
    J("storage-negative", 'jupyter_server_storage_size: "-10Gi" is not above zero', jupyter_server_storage_size="-10Gi"),
    J("storage-garbage", 'jupyter_server_storage_size: "lots" is not a Kubernetes quantity', jupyter_server_storage_size="lots"),
    J("scratch-negative", 'jupyter_server_scratch_size_limit: "-1Gi" is not above zero', jupyter_server_scratch_size_limit="-1Gi"),
    J("cpu-garbage", 'jupyter_server_resources: requests.cpu: "banana" is not a Kubernetes quantity',
      jupyter_server_resources={"requests": {"cpu": "banana"}}),
    J("memory-limit-below-request", "jupyter_server_resources: limits.memory (1Gi) is below requests.memory (2Gi)",
      jupyter_server_resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}),
    J("resources-unknown-key", 'jupyter_server_resources: has an unknown key "limit"', jupyter_server_resources={"limit": {"cpu": "1"}}),
    J("memory-negative", 'jupyter_server_resources: limits.memory: "-4Gi" is negative', jupyter_server_resources={"limits": {"memory": "-4Gi"}}),
    # ------------------------------------------------ credentials
    J("short-password", "jupyter_server_password is 1 characters long", jupyter_server_password="a"),
    J("short-token", "jupyter_server_token is 3 characters long", jupyter_server_token="abc"),
    J("token-whitespace", "jupyter_server_token holds whitespace", jupyter_server_token="a" * 20 + " " + "b" * 20),
    J("hash-garbage", "jupyter_server_password_hash is not a hash jupyter_server accepts", jupyter_server_password_hash="nonsense"),
    J("hash-bad-argon2", "jupyter_server_password_hash is not a hash jupyter_server accepts: it is not an argon2 PHC string",
      jupyter_server_password_hash="argon2:$argon2id$short"),
    J("hash-bad-sha1", "a sha1 hash is sha1:<salt>:<40 hex digits>", jupyter_server_password_hash="sha1:salt:1234"),
    J("user-role", "value of role must be one of: admin, user, viewer, got: root found in jupyter_server_users",
      jupyter_server_users=[{"name": "ada", "role": "root"}]),
    J("user-name", "jupyter_server_users[0].name must be lower case", jupyter_server_users=[{"name": "Ada"}]),
    J("user-twice", "jupyter_server_users[1] (ada): the name appears twice", jupyter_server_users=[{"name": "ada"}, {"name": "ada"}]),
    J("user-short-password", "jupyter_server_users[0] (ada).password is 3 characters long",
      jupyter_server_users=[{"name": "ada", "password": "abc"}]),
    # ------------------------------------------------ settings
    J("unknown-trait", "settings.ServerApp.no_such_trait: ServerApp has no configurable trait 'no_such_trait'",
      jupyter_server_settings={"ServerApp": {"no_such_trait": 1}}),
    J("trait-type", "settings.MappingKernelManager.cull_idle_timeout",
      jupyter_server_settings={"MappingKernelManager": {"cull_idle_timeout": "soon"}}),
    J("secret-identity-token", "jupyter_server_settings sets IdentityProvider.token: secrets do not belong in plain settings",
      jupyter_server_settings={"IdentityProvider": {"token": "abc"}}),
    J("secret-gateway-token", "jupyter_server_settings sets GatewayClient.auth_token: secrets do not belong",
      jupyter_server_settings={"GatewayClient": {"auth_token": "t0ps3cret"}}),
    J("secret-gateway-pwd", "jupyter_server_settings sets GatewayClient.http_pwd: secrets do not belong",
      jupyter_server_settings={"GatewayClient": {"http_pwd": "t0ps3cret"}}),
    J("secret-session-key", "jupyter_server_settings sets Session.key: secrets do not belong",
      jupyter_server_settings={"Session": {"key": "t0ps3cret"}}),
    J("secret-cookie", "jupyter_server_settings sets ServerApp.cookie_secret", jupyter_server_settings={"ServerApp": {"cookie_secret": "c"}}),
    J("secret-notebookapp", "jupyter_server_settings sets NotebookApp.password", jupyter_server_settings={"NotebookApp": {"password": "p"}}),
    J("secret-hash", "jupyter_server_settings sets PasswordIdentityProvider.hashed_password",
      jupyter_server_settings={"PasswordIdentityProvider": {"hashed_password": "sha1:a:b"}}),
    J("port-in-settings", "jupyter_server_settings.ServerApp sets port:", jupyter_server_settings={"ServerApp": {"port": 9999, "open_browser": False}}),
    J("extra-class-serverapp", "jupyter_server_settings_extra_classes lists ServerApp, a class of jupyter_server",
      jupyter_server_settings_extra_classes=["ServerApp"], jupyter_server_settings={"ServerApp": {"open_browser": "yes"}}),
    J("xsrf-off-any-origin", "turns XSRF checks off (ServerApp.disable_check_xsrf) while any origin is allowed",
      jupyter_server_allow_origin="*", jupyter_server_settings={"ServerApp": {"disable_check_xsrf": True}}),
    J("xsrf-off-origin-pattern", "jupyter_server_insecure_cors_acknowledged",
      jupyter_server_settings={"ServerApp": {"disable_check_xsrf": True, "allow_origin_pat": ".*"}}),
    # ------------------------------------------------ env, labels, image, pod
    J("env-without-name", "jupyter_server_env[0] has no name", jupyter_server_env=[{"value": "x"}]),
    J("env-bad-name", 'jupyter_server_env[0] (1BAD): "1BAD" is not a valid environment variable name', jupyter_server_env=[{"name": "1BAD", "value": "x"}]),
    J("env-reserved", "jupyter_server_env[0] (JUPYTER_CONFIG_PATH): JUPYTER_CONFIG_PATH is set by the role itself",
      jupyter_server_env=[{"name": "JUPYTER_CONFIG_PATH", "value": "/tmp"}]),
    J("env-value-number", "jupyter_server_env[0] (N): value 3 is not a string", jupyter_server_env=[{"name": "N", "value": 3}]),
    J("label-key", 'jupyter_server_labels: "team name"', jupyter_server_labels={"team name": "a"}),
    J("label-value", 'is not a label value', jupyter_server_labels={"team": "a b"}),
    J("label-value-long", "is not a label value", jupyter_server_labels={"team": LONG}),
    J("namespace-label", 'jupyter_server_namespace_labels: "Example.COM/x"', jupyter_server_namespace_labels={"Example.COM/x": "y"}),
    J("node-selector", "jupyter_server_node_selector: 1 is not a string", jupyter_server_node_selector={"disk": 1}),
    J("np-namespace-labels", "jupyter_server_network_policy_ingress_namespace_labels",
      jupyter_server_network_policy_ingress_namespace_labels={"kubernetes.io/metadata.name": "ingress nginx"}),
    J("np-peer", "jupyter_server_network_policy_extra_from[0] has unknown keys cidr", jupyter_server_network_policy_extra_from=[{"cidr": "10.0.0.0/8"}]),
    J("np-peer-empty", "jupyter_server_network_policy_extra_from[0] is empty", jupyter_server_network_policy_extra_from=[{}]),
    J("render-dest-missing-dir", "jupyter_server_render_dest: the directory /nonexistent-rdj does not exist on the controller",
      jupyter_server_render_only=True, jupyter_server_render_dest="/nonexistent-rdj/manifests.yaml"),
    J("np-except-cidr", 'jupyter_server_network_policy_egress_internet_except[1] "metadata" is not a CIDR',
      jupyter_server_network_policy_egress_internet_except=["10.0.0.0/8", "metadata"]),
    J("np-egress-peer-cidr", 'jupyter_server_network_policy_egress_extra_to[0].ipBlock.cidr: "10.1.2.3" is not a CIDR',
      jupyter_server_network_policy_egress_extra_to=[{"ipBlock": {"cidr": "10.1.2.3"}}]),
    J("ingress-annotation", 'jupyter_server_ingress_annotations: "nginx ingress/timeout"',
      jupyter_server_ingress_annotations={"nginx ingress/timeout": "60"}),
    J("ingress-class-annotation-number", "jupyter_server_ingress_class_annotations[nginx]: the value of",
      jupyter_server_ingress_class_annotations={"nginx": {"nginx.ingress.kubernetes.io/proxy-read-timeout": 3600}}),
    J("ws-ping-negative", "jupyter_server_websocket_ping_interval=-5 is out of range: it must be 0-3600 seconds",
      jupyter_server_websocket_ping_interval=-5),
    J("toleration", 'jupyter_server_tolerations[0]: operator "Is" is not Exists or Equal', jupyter_server_tolerations=[{"key": "gpu", "operator": "Is"}]),
    J("affinity", "jupyter_server_affinity: the mapping has unknown keys nodeSelector", jupyter_server_affinity={"nodeSelector": {}}),
    J("image-upper-case", 'jupyter_server_image: "Registry/Jupyter:1" is not an image reference', jupyter_server_image="Registry/Jupyter:1"),
    J("image-flag", 'jupyter_server_image: "--privileged" is not an image reference', jupyter_server_image="--privileged"),
    J("image-two-tags", "is not an image reference", jupyter_server_image="127.0.0.1:5000/jupyter:1:2"),
    J("no-image", "jupyter_server_image is empty", jupyter_server_image=""),
    J("pod-security-version", 'jupyter_server_pod_security_version must be latest or v1.<minor> (got "1.30")', jupyter_server_pod_security_version="1.30"),
    J("gpu-resource", 'jupyter_server_gpu_resource must be an extended resource name, domain/name (got "gpu")', jupyter_server_gpu_resource="gpu"),
    J("kernel-transport", "jupyter_server_kernel_transport must be one of: ipc, tcp, got: udp", jupyter_server_kernel_transport="udp"),
    # ------------------------------------------------ kernels in pods
    J("pod-kernel-name", "jupyter_server_pod_kernels[0] (big data): name must be a kernelspec name",
      jupyter_server_pod_kernels=[{"name": "big data"}]),
    J("pod-kernel-no-name", "missing required arguments: name found in jupyter_server_pod_kernels",
      jupyter_server_pod_kernels=[{"display_name": "Big"}]),
    J("pod-kernel-twice", "jupyter_server_pod_kernels[1] (big): the kernel name big is given twice",
      jupyter_server_pod_kernels=[{"name": "big"}, {"name": "big"}]),
    J("pod-kernel-image", 'jupyter_server_pod_kernels[0] (big): image: "Big:1" is not an image reference',
      jupyter_server_pod_kernels=[{"name": "big", "image": "Big:1"}]),
    J("pod-kernel-memory", "jupyter_server_pod_kernels[0] (big): resources",
      jupyter_server_pod_kernels=[{"name": "big", "resources": {"limits": {"memory": "lots"}}}]),
    J("pod-kernel-timeout", "jupyter_server_pod_kernels[0] (big): launch_timeout=2 is out of range",
      jupyter_server_pod_kernels=[{"name": "big", "launch_timeout": 2}]),
    J("pod-kernel-env", "jupyter_server_pod_kernels[0] (big): env[0] (RESPONSE_ADDRESS): RESPONSE_ADDRESS is set by the role",
      jupyter_server_pod_kernels=[{"name": "big", "env": [{"name": "RESPONSE_ADDRESS", "value": "1.2.3.4:1"}]}]),
    J("pod-kernel-unknown-key", "jupyter_server_pod_kernels.colour. Supported parameters include",
      jupyter_server_pod_kernels=[{"name": "big", "colour": "red"}]),
    J("pod-kernel-response-port", "jupyter_server_pod_kernel_response_port=80 must be 1024-65535",
      jupyter_server_pod_kernel_response_port=80),
    J("pod-kernel-api-to", "jupyter_server_pod_kernel_api_to", jupyter_server_pod_kernel_api_to=[{"ipBlock": {"cidr": "x"}}]),
    J("default-url", 'jupyter_server_default_url must be a path starting with \'/\' (got "lab")', jupyter_server_default_url="lab"),
    J("relative-root-dir", 'jupyter_server_root_dir must be absolute paths: got "work"',
      jupyter_server_root_dir="work"),
    J("allow-origin-list", 'jupyter_server_allow_origin must be one origin (scheme://host[:port]) or \'*\'',
      jupyter_server_allow_origin="https://a.test, https://b.test"),
    J("kubeconfig-missing", "kubeconfig /nonexistent/kubeconfig from jupyter_server_kubeconfig", jupyter_server_kubeconfig="/nonexistent/kubeconfig"),
    J("field-manager", "jupyter_server_field_manager must be 1-128 characters", jupyter_server_field_manager=""),
    J("ingress-without-host", "jupyter_server_ingress_enabled needs jupyter_server_ingress_hosts", jupyter_server_ingress_enabled=True),
    J("route-without-host", "jupyter_server_route_enabled needs jupyter_server_route_host", jupyter_server_route_enabled=True),
    # ------------------------------------------------ checked against the cluster before any change
    J("storage-class", "StorageClass no-such-class (jupyter_server_storage_class) does not exist", jupyter_server_storage_class="no-such-class"),
    # (A cluster without the Route API is refused too: unit-tested, tests/unit/.../test__deploy_engine.py;
    # the local cluster serves route.openshift.io/v1 since it installs the CRD, see test_render.py.)
    # A new namespace cannot hold them yet: the message says how to order it (issue 17).
    J("pull-secret-missing", "does not exist yet, so it holds none of the image pull secrets no-such-secret",
      jupyter_server_image_pull_secrets=["no-such-secret"]),
    J("pull-config-not-json", "jupyter_server_image_pull_dockerconfigjson is not JSON (the value is not shown)",
      jupyter_server_image_pull_dockerconfigjson="user:secret-pull-pw"),
    J("regenerate-explicit-token", "jupyter_server_regenerate_token (rotate_token=true) cannot replace jupyter_server_token",
      jupyter_server_regenerate_token=True, jupyter_server_token="t" * 40),
    J("default-kernel", 'jupyter_server_default_kernel must be a kernelspec name', jupyter_server_default_kernel="python 3"),
    # ------------------------------------------------ code-server
    C("cs-extension-flag", 'code_server_extensions[0]: "--user-data-dir=/tmp/x" is neither an extension id',
      code_server_extensions=["--user-data-dir=/tmp/x"]),
    C("cs-extension-short-flag", 'code_server_extensions[1]: "-h" is neither an extension id', code_server_extensions=["ms-python.python", "-h"]),
    C("cs-extension-no-publisher", 'code_server_extensions[0]: "python" is neither', code_server_extensions=["python"]),
    C("cs-extension-relative-vsix", 'code_server_extensions[0]: "ext/my.vsix" is neither', code_server_extensions=["ext/my.vsix"]),
    C("cs-hash-garbage", "code_server_password_hash is not a hash code-server accepts", code_server_password_hash="nothash"),
    C("cs-hash-absurd-cost", "its argon2 cost (m=4194304 KiB, t=1000, p=8) is above the most",
      code_server_password_hash="$argon2id$v=19$m=4194304,t=1000,p=8$c2FsdHNhbHQ$aGFzaGhhc2g"),
    C("cs-short-password", "code_server_password is 3 characters long", code_server_password="abc"),
    C("cs-password-length", "code_server_password_length=5 is out of range", code_server_password_length=5),
    C("cs-storage-garbage", 'code_server_storage_size: "5 GB" is not a Kubernetes quantity', code_server_storage_size="5 GB"),
    C("cs-cpu-limit-below-request", "code_server_resources: limits.cpu (100m) is below requests.cpu (1)",
      code_server_resources={"requests": {"cpu": "1"}, "limits": {"cpu": "100m"}}),
    C("cs-env-reserved", "code_server_env[0] (HASHED_PASSWORD): HASHED_PASSWORD is set by the role itself",
      code_server_env=[{"name": "HASHED_PASSWORD", "value": "x"}]),
    C("cs-env-both", "code_server_env[0] (A) has both value and valueFrom",
      code_server_env=[{"name": "A", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
    C("cs-jupyter-url", 'code_server_jupyter_url must be an http(s) URL ending in \'/\' (got "jupyter:8888")', code_server_jupyter_url="jupyter:8888"),
    C("cs-token-key", 'code_server_jupyter_token_key must be a Secret key', code_server_jupyter_token_key="a/b"),
    C("cs-image", 'code_server_image: "code server" is not an image reference', code_server_image="code server"),
    C("cs-label", 'code_server_labels: "-team"', code_server_labels={"-team": "a"}),
    C("cs-gallery", "code_server_extensions_gallery: serviceUrl must be strings", code_server_extensions_gallery={"serviceUrl": ["x"]}),
    C("cs-jupyter-name", 'code_server_jupyter_name "Jupyter"', code_server_jupyter_name="Jupyter"),
    C("cs-env-token-file", "code_server_env[0] (JUPYTER_TOKEN_FILE): JUPYTER_TOKEN_FILE is set by the role itself",
      code_server_env=[{"name": "JUPYTER_TOKEN_FILE", "value": "/tmp/token"}]),
    C("cs-user-name", "code_server_users[0].name must be a user of jupyter_server_users", code_server_users=[{"name": "ada_l"}]),
    C("cs-user-short-password", "code_server_users[0] (ada).password is 3 characters long",
      code_server_users=[{"name": "ada", "password": "abc"}]),
    C("cs-user-unknown-key", "code_server_users.role. Supported parameters include", code_server_users=[{"name": "ada", "role": "user"}]),
    C("cs-ingress-class-name", 'code_server_ingress_class_annotations["Nginx"]: "Nginx" is not a DNS subdomain name',
      code_server_ingress_class_annotations={"Nginx": {}}),
    C("cs-dns-to-peer", "code_server_network_policy_dns_to[0] has unknown keys namespace", code_server_network_policy_dns_to=[{"namespace": "kube-system"}]),
]

# Checked against the cluster: an existing namespace the case must leave alone.
CASES.append(Case("cs-without-jupyter", "code_server", {
    "code_server_namespace": "kube-public", "code_server_jupyter_name": "jupyter-none"},
    "Jupyter Server jupyter-none not found in namespace kube-public", namespace_is_fresh=False))
CASES += [
    F("fe-jupyter-url", 'frontend_jupyter_url must be an http(s) URL ending in \'/\' with no query (got "jupyter:8888")',
      frontend_jupyter_url="jupyter:8888"),
    F("fe-replicas", "frontend_replicas=21 is out of range: it must be 0-20", frontend_replicas=21),
    F("fe-env-reserved", "frontend_env[0] (FRONTEND_UPSTREAM): FRONTEND_UPSTREAM is set by the role itself",
      frontend_env=[{"name": "FRONTEND_UPSTREAM", "value": "http://elsewhere:8888"}]),
    F("fe-jupyter-name", 'frontend_jupyter_name "Jupyter"', frontend_jupyter_name="Jupyter"),
    F("fe-ingress-hosts", "frontend_ingress_enabled needs frontend_ingress_hosts", frontend_ingress_enabled=True),
    F("fe-image", 'frontend_image: "note book" is not an image reference', frontend_image="note book"),
    F("fe-unknown-state", "frontend_state", frontend_state="gone"),
]
# The Jupyter Server to front is looked for before any change.
CASES.append(Case("fe-without-jupyter", "frontend", {
    "frontend_namespace": "kube-public", "frontend_jupyter_name": "jupyter-none"},
    "Jupyter Server jupyter-none not found in namespace kube-public", namespace_is_fresh=False))
CASES.append(Case("cs-pull-secret-missing", "code_server", {
    "code_server_namespace": "kube-public", "code_server_image_pull_secrets": ["no-such-cs-secret"]},
    "Image pull secret(s) no-such-cs-secret not found in namespace kube-public (code_server_image_pull_secrets)",
    namespace_is_fresh=False))


@pytest.fixture(scope="module")
def table_run(tmp_path_factory, kube_env, kube):
    """Every case as a host of one inventory, in one playbook run; returns
    (the run, {case id: its fresh namespace}), and checks afterwards that
    none of the namespaces exists."""
    tag = secrets.token_hex(3)
    namespaces = {case.id: f"rdj-bad-{tag}-{index:02d}" for index, case in enumerate(CASES)}
    hosts = {}
    for case in CASES:
        values = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "bad_input_role": case.role,
            "jupyter_server_namespace": namespaces[case.id],
            "code_server_namespace": namespaces[case.id],
            "frontend_namespace": namespaces[case.id],
            "jupyter_server_image": JUPYTER_IMAGE,
            "code_server_image": CODE_SERVER_IMAGE,
            "frontend_image": FRONTEND_IMAGE,
            "jupyter_server_wait": False,
            "code_server_wait": False,
            "frontend_wait": False,
        }
        values.update(case.values)
        hosts[case.id] = values
    inventory = tmp_path_factory.mktemp("bad-input") / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=False))
    run = run_playbook(TEST_PLAYBOOKS / "bad_input.yml", "-i", str(inventory), "--forks", "10", env=kube_env, timeout=900)
    existing = {item.metadata.name for item in kube.core.list_namespace().items}
    return run, namespaces, existing


def test_table_size():
    assert len(CASES) >= 60 and len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_rejected_before_any_change(table_run, case):
    run, namespaces, existing = table_run
    failures = [t for t in run.failures if t.host == case.id]
    assert failures, f"{case.id} did not fail\n{run.summary()}"
    assert case.message in failures[-1].msg, f"{case.id}: {failures[-1].msg}"
    assert run.changed(case.id) == 0, f"{case.id} changed something"
    if case.namespace_is_fresh:
        assert namespaces[case.id] not in existing, f"{case.id}: namespace {namespaces[case.id]} was created"


# ---------------------------------------------------------------- beyond the table


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
            "-e", f"jupyter_server_image={JUPYTER_IMAGE}",
            *extra,
            env=env or kube_env,
        )  # fmt: skip

    return _deploy


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
