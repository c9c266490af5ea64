"""The manifests both roles render, through the roles' own render path (the one
apply and check mode use); the exposure objects are also dry-run against the local cluster."""

from __future__ import annotations

import base64
import os

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from traitlets.config.loader import PyFileConfigLoader

from conftest import REGISTRY, TEST_PLAYBOOKS, by_kind, run_playbook

TOKEN = "t" * 48
HASH = "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
FIXED = {"jupyter_server_token": TOKEN, "jupyter_server_password_hash": HASH, "code_server_password": "pw-" + "x" * 20}


def container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def load_config(configmap: dict, tmp_path) -> dict:
    path = tmp_path / "jupyter_server_config.py"
    path.write_text(configmap["data"]["jupyter_server_config.py"])
    return PyFileConfigLoader(path.name, path=str(tmp_path)).load_config()


def test_pod_is_hardened_for_restricted(render):
    run, docs = render(**FIXED)
    run.check()
    namespace = by_kind(docs["jupyter_server"], "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for role in ("jupyter_server", "code_server", "frontend"):
        pod = by_kind(docs[role], "Deployment")["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 1000
        assert pod["securityContext"]["fsGroup"] == 100
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"] + pod.get("initContainers", []):
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_server_config_is_secure_and_has_no_secrets(render, tmp_path):
    run, docs = render(
        **FIXED,
        jupyter_server_cull_idle_timeout=1234,
        jupyter_server_base_url="team/",
        jupyter_server_settings={"KernelSpecManager": {"allowed_kernelspecs": ["python3"]}, "ServerApp": {"terminals_enabled": False}},
    )
    run.check()
    configmap = by_kind(docs["jupyter_server"], "ConfigMap")
    text = configmap["data"]["jupyter_server_config.py"]
    assert TOKEN not in text and "argon2" not in text and "hashed_password" not in text
    config = load_config(configmap, tmp_path)
    assert config.ServerApp.allow_root is False
    assert config.ServerApp.disable_check_xsrf is False
    assert config.ServerApp.base_url == "/team/"
    assert config.ServerApp.root_dir == "/home/jovyan/work"
    assert config.MappingKernelManager.cull_idle_timeout == 1234
    assert config.KernelManager.transport == "ipc"  # no kernel ports to race for
    assert config.KernelSpecManager.allowed_kernelspecs == {"python3"}
    assert config.ServerApp.terminals_enabled is False  # the user's settings win over the role's
    # the probes follow base_url
    deployment = by_kind(docs["jupyter_server"], "Deployment")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container(deployment)[probe]["httpGet"]["path"] == "/team/api"


def test_secrets_live_in_the_secret_and_render_redacted(render):
    run, docs = render(**FIXED)
    run.check()
    secret = by_kind(docs["jupyter_server"], "Secret")
    assert set(secret["data"]) == {"token", "password-hash", "jupyter_server_config.json", "checksum-key"}
    assert {base64.b64decode(v) for v in secret["data"].values()} == {b"REDACTED"}
    assert TOKEN not in run.output and "c2FsdHNhbHQ" not in run.output
    env = {e["name"]: e for e in container(by_kind(docs["jupyter_server"], "Deployment"))["env"]}
    assert env["JUPYTER_TOKEN_FILE"]["value"] == "/etc/jupyter-secret/token"
    assert env["JUPYTER_CONFIG_PATH"]["value"].split(":")[0] == "/etc/jupyter-secret"
    assert "JUPYTER_TOKEN" not in env


def test_only_config_and_secret_changes_roll_the_pod(render):
    base = render(**FIXED)[1]
    same = render(**FIXED)[1]
    cull = render(**FIXED, jupyter_server_cull_idle_timeout=60)[1]
    token = render(**dict(FIXED, jupyter_server_token="u" * 48))[1]

    def template(docs):
        return by_kind(docs["jupyter_server"], "Deployment")["spec"]["template"]

    assert template(base) == template(same)
    annotations = {k: template(d)["metadata"]["annotations"] for k, d in {"base": base, "cull": cull, "token": token}.items()}
    assert annotations["cull"]["remotedev.jupyter/config-checksum"] != annotations["base"]["remotedev.jupyter/config-checksum"]
    # A rendered file shows nothing made of the secrets, not even their checksum
    # (so a render is the same whatever token a converge would generate); that a
    # new token changes the checksum is proven on the engine itself
    # (tests/unit/plugins/module_utils/test__deploy_components.py).
    assert {a["remotedev.jupyter/secret-checksum"] for a in annotations.values()} == {"REDACTED"}
    assert annotations["token"]["remotedev.jupyter/config-checksum"] == annotations["base"]["remotedev.jupyter/config-checksum"]
    # nothing but the checksum annotations and the digest label differ
    for changed in (cull, token):
        a, b = template(base), template(changed)
        assert a["spec"] == b["spec"]


@pytest.mark.parametrize(
    ("access_mode", "strategy"),
    [("ReadWriteOnce", "Recreate"), ("ReadWriteOncePod", "Recreate"), ("ReadWriteMany", "RollingUpdate")],
)
def test_strategy_follows_the_access_mode(render, access_mode, strategy):
    run, docs = render(**FIXED, jupyter_server_storage_access_mode=access_mode, render_code_server=False)
    run.check()
    assert by_kind(docs["jupyter_server"], "Deployment")["spec"]["strategy"]["type"] == strategy
    assert by_kind(docs["jupyter_server"], "PersistentVolumeClaim")["spec"]["accessModes"] == [access_mode]


def test_exposure_gpu_and_scheduling(render, kube):
    run, docs = render(
        **FIXED,
        render_code_server=False,
        jupyter_server_ingress_enabled=True,
        jupyter_server_ingress_class_name="nginx",
        jupyter_server_ingress_hosts=["team-a.jupyter.example.test"],
        jupyter_server_ingress_tls_secret="wildcard-tls",
        jupyter_server_route_enabled=True,
        jupyter_server_route_host="team-a.apps.example.test",
        jupyter_server_gpu_count=2,
        jupyter_server_node_selector={"gpu": "yes"},
        jupyter_server_tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        jupyter_server_image_pull_secrets=["regcred"],
    )
    run.check()
    jupyter = docs["jupyter_server"]
    ingress = by_kind(jupyter, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["team-a.jupyter.example.test"], "secretName": "wildcard-tls"}]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "jupyter-localhost"
    route = by_kind(jupyter, "Route")
    assert route["spec"]["host"] == "team-a.apps.example.test" and route["spec"]["tls"]["termination"] == "edge"
    # The API server takes the Route and the Ingress as rendered (server-side dry run against
    # the local cluster's Route CRD, written from OpenShift's API), and refuses a broken Route.
    custom = client.CustomObjectsApi(kube.core.api_client)
    route_ns = {**route, "metadata": {**route["metadata"], "namespace": "default"}}
    accepted = custom.create_namespaced_custom_object("route.openshift.io", "v1", "default", "routes", route_ns, dry_run="All")
    assert accepted["spec"]["to"] == {"kind": "Service", "name": "jupyter-localhost", "weight": 100}
    broken = {**route_ns, "spec": {**route_ns["spec"], "tls": {"termination": "offload"}}}
    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object("route.openshift.io", "v1", "default", "routes", broken, dry_run="All")
    assert refused.value.status == 422 and "spec.tls.termination" in refused.value.body
    networking = client.NetworkingV1Api(kube.core.api_client)
    networking.create_namespaced_ingress("default", {**ingress, "metadata": {**ingress["metadata"], "namespace": "default"}}, dry_run="All")
    pod = by_kind(jupyter, "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert pod["nodeSelector"] == {"gpu": "yes"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    policy = by_kind(jupyter, "NetworkPolicy")
    peers = policy["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in peers
    assert {"podSelector": {"matchLabels": {"remotedev.jupyter/jupyter-client": "jupyter-localhost"}}} in peers
    # Egress too: DNS first, then the internet without the cluster's, the nodes' and metadata ranges.
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    dns, internet = policy["spec"]["egress"]
    assert {"port": 53, "protocol": "TCP"} in dns["ports"]
    assert "169.254.0.0/16" in internet["to"][0]["ipBlock"]["except"]


def test_pod_kernels_render_and_are_admitted_under_restricted(render, kube):
    """jupyter_server_pod_kernels through the render path: the kernelspecs and
    pod templates in their ConfigMap, the least-privilege RBAC, and the kernel
    pod as rendered, its RBAC and the server's Deployment admitted by the API
    server (server-side dry run) in a namespace enforcing Pod Security restricted."""
    big = {"name": "big", "display_name": "Big", "resources": {"limits": {"memory": "1Gi"}},
           "node_selector": {"kubernetes.io/os": "linux"}, "launch_timeout": 60}
    run, docs = render(**FIXED, render_code_server=False, jupyter_server_pod_kernels=[big],
                       jupyter_server_pod_kernel_api_to=[{"ipBlock": {"cidr": "10.0.0.1/32"}}])
    run.check()
    jupyter = docs["jupyter_server"]
    named = {(d["kind"], d["metadata"]["name"]): d for d in jupyter}
    role = named[("Role", "jupyter-localhost-kernels")]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                              "verbs": ["create", "get", "list", "watch", "delete"]}]
    assert named[("ServiceAccount", "jupyter-localhost")]["automountServiceAccountToken"] is False
    assert not [d for d in jupyter if d["kind"].startswith("Cluster")]
    files = named[("ConfigMap", "jupyter-localhost-kernels")]["data"]
    spec = yaml.safe_load(files["big.kernel.json"])
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "remotedev-kubernetes-provisioner"
    pod = yaml.safe_load(files["big.pod.json"])
    assert pod["spec"]["automountServiceAccountToken"] is False
    deployment = named[("Deployment", "jupyter-localhost")]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "jupyter-localhost"
    assert named[("NetworkPolicy", "jupyter-localhost-kernels")]["spec"]["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "jupyter-server",
                                                   "app.kubernetes.io/instance": "localhost"}}}]}]
    from kubernetes import client

    namespace = "rdj-render-psa-" + base64.b32encode(os.urandom(5)).decode().lower()
    kube.core.create_namespace({"metadata": {"name": namespace, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}})
    try:
        def moved(obj):
            return {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}

        # The launcher adds only the name, the kernel id label and the launch's env.
        kernel = moved(pod)
        kernel["metadata"]["name"] = "jovyan-0f3d"
        kernel["metadata"]["labels"] = {**kernel["metadata"]["labels"], "kernel_id": "0f3d", "component": "kernel"}
        kube.core.create_namespaced_pod(namespace, kernel, dry_run="All")
        kube.core.create_namespaced_service_account(namespace, moved(named[("ServiceAccount", "jupyter-localhost")]),
                                                    dry_run="All")
        rbac = client.RbacAuthorizationV1Api(kube.core.api_client)
        rbac.create_namespaced_role(namespace, moved(role), dry_run="All")
        apps = client.AppsV1Api(kube.core.api_client)
        apps.create_namespaced_deployment(namespace, moved(deployment), dry_run="All")
        networking = client.NetworkingV1Api(kube.core.api_client)
        for policy in [d for d in jupyter if d["kind"] == "NetworkPolicy"]:
            networking.create_namespaced_network_policy(namespace, moved(policy), dry_run="All")
        # and a kernel pod that asks for a token or root is refused there
        with pytest.raises(ApiException) as refused:
            root = moved(kernel)
            root["spec"] = {**kernel["spec"], "securityContext": {**kernel["spec"]["securityContext"], "runAsUser": 0,
                                                                  "runAsNonRoot": False}}
            kube.core.create_namespaced_pod(namespace, root, dry_run="All")
        assert refused.value.status == 403 and "restricted" in refused.value.body
    finally:
        kube.core.delete_namespace(namespace)


def test_websocket_keepalive_by_ingress_class(render, tmp_path):
    """What long-lived websockets need: the controller's timeouts by ingress
    class (explicit annotations win key by key) and the server's pings."""
    run, docs = render(
        **FIXED,
        jupyter_server_ingress_enabled=True,
        jupyter_server_ingress_class_name="nginx",
        jupyter_server_ingress_hosts=["team-a.jupyter.example.test"],
        jupyter_server_ingress_annotations={"nginx.ingress.kubernetes.io/proxy-read-timeout": "86400"},
        jupyter_server_websocket_ping_interval=25,
        code_server_ingress_enabled=True,
        code_server_ingress_class_name="alb",
        code_server_ingress_hosts=["team-a.code.example.test"],
    )
    run.check()
    assert by_kind(docs["jupyter_server"], "Ingress")["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "86400",
        "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
    }
    assert by_kind(docs["code_server"], "Ingress")["metadata"]["annotations"] == {
        "alb.ingress.kubernetes.io/load-balancer-attributes": "idle_timeout.timeout_seconds=3600",
    }
    config = load_config(by_kind(docs["jupyter_server"], "ConfigMap"), tmp_path)
    assert config.ServerApp.tornado_settings == {"ws_ping_interval": 25000}


def test_code_server_gets_hash_config_and_the_jupyter_connection(render):
    run, docs = render(**FIXED, code_server_extensions=["ms-toolsai.jupyter", "ms-python.python"])
    run.check()
    code = docs["code_server"]
    secret = by_kind(code, "Secret")
    # The config file (with the hashed password) lives in the Secret; an explicit password is never stored in clear.
    assert set(secret["data"]) == {"hashed-password", "config.yaml", "checksum-key"}
    assert [d["kind"] for d in code if d["kind"] == "ConfigMap"] == []
    pod = by_kind(code, "Deployment")["spec"]["template"]
    assert pod["metadata"]["labels"]["remotedev.jupyter/jupyter-client"] == "jupyter-localhost"
    main = pod["spec"]["containers"][0]
    # Secrets only as files: no secretKeyRef, no envFrom, in any container.
    assert {e["name"]: e["value"] for e in main["env"]} == {
        "CODE_SERVER_CONFIG": "/etc/code-server/config.yaml",
        "JUPYTER_SERVER_URL": "http://jupyter-localhost.remotedev-jupyter.svc.cluster.local:8888/",
        "JUPYTER_TOKEN_FILE": "/etc/jupyter-server/token",
    }
    for c in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
        assert "envFrom" not in c and all("valueFrom" not in e for e in c["env"])
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["jupyter-token"]["secret"] == {"secretName": "jupyter-localhost", "defaultMode": 0o440,
                                                  "items": [{"key": "token", "path": "token"}]}
    assert volumes["config"]["secret"]["items"] == [{"key": "config.yaml", "path": "config.yaml"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"]["path"] == "/healthz"
    init = pod["spec"]["initContainers"][0]
    assert init["command"].count("--install-extension") == 2
    assert "ms-toolsai.jupyter" in init["command"]


def test_frontend_fronts_the_server_without_a_credential(render):
    """The frontend: the proxy pointed at the server's URL (its base path
    included), no Secret, no volume, a client of the server, out only to DNS
    and the server, the Ingress to its own host."""
    run, docs = render(**FIXED, frontend_jupyter_url="http://jupyter-localhost.remotedev-jupyter.svc.cluster.local:8888/team/",
                       frontend_replicas=2, frontend_ingress_enabled=True, frontend_ingress_hosts=["notebook.example.test"])
    run.check()
    front = docs["frontend"]
    assert sorted(d["kind"] for d in front) == ["Deployment", "Ingress", "NetworkPolicy", "Service"]
    deployment = by_kind(front, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert "volumes" not in pod and container(deployment)["volumeMounts"] == []
    env = {e["name"]: e["value"] for e in container(deployment)["env"]}
    assert env["FRONTEND_UPSTREAM"] == "http://jupyter-localhost.remotedev-jupyter.svc.cluster.local:8888"
    assert env["FRONTEND_BASE_URL"] == "/team/"
    assert container(deployment)["readinessProbe"]["httpGet"]["path"] == "/team/frontend/healthz"
    assert deployment["spec"]["template"]["metadata"]["labels"]["remotedev.jupyter/jupyter-client"] == "jupyter-localhost"
    egress = by_kind(front, "NetworkPolicy")["spec"]["egress"]
    assert [rule.get("to") for rule in egress][1] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "jupyter-server"}}}]
    assert len(egress) == 2  # no internet by default
    assert by_kind(front, "Ingress")["spec"]["rules"][0]["host"] == "notebook.example.test"


def test_acknowledged_open_cors_renders_with_warnings(render):
    """XSRF off with any origin is refused (tests/deploy/test_bad_input.py) unless
    acknowledged; then it renders, and the run says what it weakens."""
    run, docs = render(jupyter_server_allow_origin="*", jupyter_server_insecure_cors_acknowledged=True,
                       jupyter_server_settings={"ServerApp": {"disable_check_xsrf": True}}, render_code_server=False, **FIXED)
    run.check()
    warnings = run.result("Converge the Jupyter Server instance").get("warnings", [])
    assert any("disable_check_xsrf is true" in w for w in warnings), warnings
    assert any("allow_origin is '*'" in w for w in warnings), warnings
    config = by_kind(docs["jupyter_server"], "ConfigMap")["data"]["jupyter_server_config.py"]
    assert "c.ServerApp.disable_check_xsrf = True" in config


def test_no_secret_in_the_output_at_any_verbosity(tmp_path):
    """-vvvv and --diff show every task result: none may carry a token, a password or a hash."""
    secrets_given = {"jupyter_server_token": TOKEN, "jupyter_server_password": "jupyter-pw-" + "y" * 16,
                     "code_server_password": "code-pw-" + "z" * 16, "jupyter_server_show_token": False}
    values = {"jupyter_server_image": f"{REGISTRY}/remotedev/jupyter-server:test",
              "code_server_image": f"{REGISTRY}/remotedev/code-server:test",
              "code_server_jupyter_url": "http://jupyter-localhost.remotedev-jupyter.svc.cluster.local:8888/",
              "code_server_jupyter_secret_name": "jupyter-localhost",
              "frontend_image": f"{REGISTRY}/remotedev/frontend:test",
              "frontend_jupyter_url": "http://jupyter-localhost.remotedev-jupyter.svc.cluster.local:8888/", **secrets_given}
    # Named users' passwords and tokens, and a hash given explicitly.
    users_secrets = {"ada-password": "ada-pw-" + "a" * 16, "ada-token": "ada-token-" + "b" * 32,
                     "vic-token": "vic-token-" + "c" * 32, "ada-code-password": "ada-code-pw-" + "d" * 16}
    values["jupyter_server_users"] = [
        {"name": "ada", "role": "user", "password": users_secrets["ada-password"], "token": users_secrets["ada-token"]},
        {"name": "vic", "role": "viewer", "token": users_secrets["vic-token"], "password_hash": HASH},
    ]
    # ada's own code-server, connected with her token.
    values["code_server_users"] = [{"name": "ada", "password": users_secrets["ada-code-password"]}]
    run = run_playbook(TEST_PLAYBOOKS / "render.yml", extra_vars=values, verbosity=4, diff=True,
                       env={"RENDER_DIR": str(tmp_path)})
    run.check()
    assert "Converge the code-server instance" in run.output
    for name, value in {**secrets_given, **users_secrets}.items():
        if isinstance(value, str):
            assert value not in run.output, name
            assert base64.b64encode(value.encode()).decode() not in run.output, name
    assert "$argon2" not in run.output
    rendered = "\n".join(p.read_text() for p in tmp_path.glob("*.y*ml"))
    assert "jupyter-localhost-users" in rendered and "users.json" in rendered
    for name, value in users_secrets.items():
        assert value not in rendered and base64.b64encode(value.encode()).decode() not in rendered, name
    ada = [d for d in yaml.safe_load_all((tmp_path / "code_server-ada.yaml").read_text()) if d]
    pod = by_kind(ada, "Deployment")["spec"]["template"]
    assert pod["metadata"]["labels"]["remotedev.jupyter/user"] == "ada"
    token = next(v for v in pod["spec"]["volumes"] if v["name"] == "jupyter-token")
    assert token["secret"]["secretName"] == "jupyter-localhost-users"
    assert token["secret"]["items"] == [{"key": "token-ada", "path": "token"}]
