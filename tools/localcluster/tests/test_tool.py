"""Tests of tools/localcluster's own pieces that need no running cluster (nor root)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

# conftest.py puts tools/ on sys.path.
from localcluster import build, cluster, configs, dns, images, layout, network, pki, processes, status
from localcluster.components import COMPONENTS, START_TIMEOUT, argv_for, env_for

CLUSTER_PY = layout.TOOL_DIR / "cluster.py"


@pytest.fixture
def state(tmp_path, monkeypatch) -> layout.Layout:
    """The modules' state dir, pointed at a temporary directory."""
    fake = layout.Layout(tmp_path / "state")
    monkeypatch.setattr(layout, "STATE", fake)
    return fake


class FakeBinaries:
    """Stands in for build.Binaries: every program under one directory."""

    def __init__(self, directory: Path):
        self.directory = directory

    def __getitem__(self, name: str) -> Path:
        return self.directory / name


# ---------------------------------------------------------------- build and cache key


def test_kubernetes_version_comes_from_the_module_pin():
    version = build.kubernetes_version()
    assert version.startswith("v1.")
    assert f"-X k8s.io/component-base/version.gitVersion={version}" in build.kube_ldflags(version)
    assert f"version.gitMinor={version.split('.')[1]}" in build.kube_ldflags(version)


@pytest.mark.parametrize(
    "module", [build.KUBE_MODULE, build.ADDONS_MODULE, build.NETPOL_MODULE], ids=["kube", "addons", "netpol"]
)
def test_cache_key_does_not_depend_on_where_the_module_is(module, tmp_path):
    outputs = {"out": (".", "-s -w")}
    copy = tmp_path / "elsewhere" / module.name
    shutil.copytree(module, copy)
    assert build.source_digest(copy, "go1.0", outputs) == build.source_digest(module, "go1.0", outputs)


def test_cache_key_covers_go_version_sources_and_flags_only(tmp_path):
    module = tmp_path / "addons"
    shutil.copytree(build.ADDONS_MODULE, module)
    outputs = {"out": (".", "-s -w")}
    key = build.source_digest(module, "go1.0", outputs)
    (module / "NOTES.md").write_text("not an input of the build\n", encoding="utf-8")
    assert build.source_digest(module, "go1.0", outputs) == key
    assert build.source_digest(module, "go1.1", outputs) != key
    assert build.source_digest(module, "go1.0", {"out": (".", "-s")}) != key
    with open(module / "main.go", "a", encoding="utf-8") as source:
        source.write("\n// changed\n")
    assert build.source_digest(module, "go1.0", outputs) != key


@pytest.mark.skipif(not shutil.which("go") and not Path("/usr/local/go/bin/go").exists(), reason="needs Go")
def test_build_key_follows_the_pin(tmp_path):
    module = tmp_path / "kube"
    shutil.copytree(build.KUBE_MODULE, module, ignore=shutil.ignore_patterns("kube"))
    kube = build.Build("kube", module, "v1.34.4", {"kube": (".", build.kube_ldflags("v1.34.4"))})
    key = kube.key()
    assert key.startswith("kube-v1.34.4-")
    assert kube.key() == key
    go_mod = module / "go.mod"
    go_mod.write_text(go_mod.read_text(encoding="utf-8") + "\n// changed\n", encoding="utf-8")
    assert kube.key() != key


# ---------------------------------------------------------------- component configuration


@pytest.fixture
def values(state, monkeypatch) -> dict[str, str]:
    monkeypatch.setattr(layout, "cni_bin_dir", lambda: "/usr/lib/cni")
    return configs.template_values(state, "node-a", "192.0.2.7", "localhost/remotedev/pause:abc")


def test_every_template_has_a_destination_in_the_state_dir(state):
    templates = {p.name for p in configs.TEMPLATES.iterdir()}
    destinations = configs.destinations(state)
    assert templates == set(destinations)
    assert all(state.root in path.parents for path in destinations.values())


@pytest.mark.parametrize("name", sorted(p.name for p in configs.TEMPLATES.iterdir()))
def test_each_template_renders_with_every_placeholder_filled(name, values):
    text = configs.render(name, values)
    assert "${" not in text
    if configs.is_json(name):
        json.loads(text)
        assert "//" not in text.replace("://", "")  # the template's comments are dropped


def test_kubelet_config_points_into_the_state_dir(state, values):
    kubelet = json.loads(configs.render("kubelet.jsonc", values))
    assert kubelet["kind"] == "KubeletConfiguration"
    assert kubelet["authentication"]["x509"]["clientCAFile"] == str(state.pki / "ca.crt")
    assert kubelet["containerRuntimeEndpoint"] == state.cri_endpoint
    assert kubelet["clusterDNS"] == [layout.DNS_SERVICE_IP]
    assert kubelet["cgroupDriver"] == "cgroupfs" and kubelet["failCgroupV1"] is False
    proxy = json.loads(configs.render("kube-proxy.jsonc", values))
    assert proxy["clientConnection"]["kubeconfig"] == str(state.kubeconfig("kube-proxy"))
    assert proxy["hostnameOverride"] == "node-a"


def test_containerd_config_uses_its_own_socket_and_the_sandbox_image(state, values):
    text = configs.render("containerd.toml", values)
    assert f'address = "{state.containerd_sock}"' in text
    assert 'sandbox_image = "localhost/remotedev/pause:abc"' in text
    assert f'config_path = "{state.containerd / "certs.d"}"' in text
    assert 'server = "http://127.0.0.1:5000"' in configs.render("registry-hosts.toml", values)


def test_dns_objects_route_the_service_address_to_the_host(values):
    items = {i["kind"]: i for i in json.loads(configs.render("bootstrap.jsonc", values))["items"]}
    assert items["Service"]["spec"]["clusterIP"] == layout.DNS_SERVICE_IP
    assert items["EndpointSlice"]["endpoints"][0]["addresses"] == ["192.0.2.7"]
    assert items["StorageClass"]["provisioner"] == layout.PROVISIONER
    assert "bind 192.0.2.7\n" in configs.render("Corefile", values)


def test_json_values_are_escaped(tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "cni_bin_dir", lambda: "/usr/lib/cni")
    odd = layout.Layout(tmp_path / 'a "quoted" \\ dir')
    kubelet = json.loads(configs.render("kubelet.jsonc", configs.template_values(odd, "n", "192.0.2.7", "ref")))
    assert kubelet["podLogsDir"] == str(odd.pod_logs)


def test_a_template_with_an_unknown_name_fails(values):
    del values["pod_logs"]
    with pytest.raises(KeyError, match="pod_logs"):
        configs.render("kubelet.jsonc", values)


# ---------------------------------------------------------------- PKI


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory) -> Path:
    if not shutil.which("openssl"):
        pytest.skip("openssl is a system dependency")
    directory = tmp_path_factory.mktemp("pki") / "pki"
    pki.ensure_pki(directory, "node-a", "192.0.2.7")
    return directory


def openssl_text(path: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", path], check=True, capture_output=True, text=True
    ).stdout


def test_apiserver_answers_to_every_name_a_client_uses():
    sans = pki.apiserver_sans("node-a", "192.0.2.7")
    for name in ("DNS:kubernetes.default.svc.cluster.local", "DNS:node-a", "DNS:localhost"):
        assert name in sans
    for address in ("127.0.0.1", layout.API_SERVICE_IP, "192.0.2.7"):
        assert f"IP:{address}" in sans


def test_certificates_chain_to_their_ca_and_carry_the_node_identity(pki_dir):
    def verify(cert: str, ca: str) -> None:
        subprocess.run(
            ["openssl", "verify", "-CAfile", pki_dir / f"{ca}.crt", pki_dir / f"{cert}.crt"],
            check=True,
            capture_output=True,
        )

    verify("apiserver", "ca")
    verify("kubelet-client", "ca")
    verify("apiserver-etcd-client", "etcd-ca")
    verify("front-proxy-client", "front-proxy-ca")
    apiserver = openssl_text(pki_dir / "apiserver.crt")
    for name in (
        "IP Address:10.96.0.1",
        "IP Address:192.0.2.7",
        "IP Address:127.0.0.1",
        "DNS:kubernetes.default.svc.cluster.local",
    ):
        assert name in apiserver
    kubelet = openssl_text(pki_dir / "kubelet-client.crt")
    assert "Subject: O = system:nodes, CN = system:node:node-a" in kubelet
    assert "TLS Web Client Authentication" in kubelet
    verify("ingress", "ingress-ca")
    with pytest.raises(subprocess.CalledProcessError):
        verify("ingress", "ca")  # trusting the ingress CA trusts no cluster identity
    ingress = openssl_text(pki_dir / "ingress.crt")
    for name in ("DNS:localhost", "DNS:*.jupyter.localhost", "IP Address:192.0.2.7", "TLS Web Server Authentication"):
        assert name in ingress


def test_a_certificate_is_renewed_only_when_the_identity_changes(pki_dir, tmp_path):
    pki_copy = tmp_path / "pki"
    shutil.copytree(pki_dir, pki_copy)
    before = (pki_copy / "kubelet-server.crt").read_bytes()
    pki.ensure_pki(pki_copy, "node-a", "192.0.2.7")
    assert (pki_copy / "kubelet-server.crt").read_bytes() == before  # unchanged identity: kept
    pki.ensure_pki(pki_copy, "node-a", "192.0.2.8")
    assert (pki_copy / "kubelet-server.crt").read_bytes() != before  # new node IP: renewed
    assert "IP Address:192.0.2.8" in openssl_text(pki_copy / "kubelet-server.crt")


def test_kubeconfigs_name_their_certificates_and_the_admin_one_embeds_them(pki_dir):
    kubelet = json.loads(pki.kubeconfig_text(pki_dir, "kubelet", "kubelet-client", embed=False))
    assert kubelet["users"][0]["user"]["client-certificate"] == str(pki_dir / "kubelet-client.crt")
    assert kubelet["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{layout.API_PORT}"
    admin = json.loads(pki.kubeconfig_text(pki_dir, "admin", "admin", embed=True))
    embedded = admin["users"][0]["user"]["client-certificate-data"]
    assert base64.b64decode(embedded) == (pki_dir / "admin.crt").read_bytes()


def test_write_configs_fills_the_state_dir(state, pki_dir, monkeypatch):
    monkeypatch.setattr(layout, "cni_bin_dir", lambda: "/usr/lib/cni")
    shutil.copytree(pki_dir, state.pki)
    configs.write_configs(state, "node-a", "192.0.2.7", "localhost/remotedev/pause:abc")
    for path in configs.destinations(state).values():
        assert path.is_file()
    assert state.admin_kubeconfig.stat().st_mode & 0o777 == 0o600
    assert state.etcd.stat().st_mode & 0o777 == 0o700
    mtime = state.kubelet_config.stat().st_mtime_ns
    configs.write_configs(state, "node-a", "192.0.2.7", "localhost/remotedev/pause:abc")
    assert state.kubelet_config.stat().st_mtime_ns == mtime  # unchanged content: not rewritten


# ---------------------------------------------------------------- components and processes


def test_every_component_has_a_command_line_and_a_start_timeout(state, tmp_path):
    assert set(START_TIMEOUT) == set(COMPONENTS)
    b = FakeBinaries(tmp_path / "bin")
    for name in COMPONENTS:
        argv = [str(a) for a in argv_for(name, b, "node-a", "192.0.2.7", "ref")]
        assert argv[0].endswith(name)  # the symlink named after it (containerd: Debian's)


def test_command_lines_point_at_the_state_dir_and_the_fixed_ports(state, tmp_path):
    b = FakeBinaries(tmp_path / "bin")

    def argv(name: str) -> list[str]:
        return [str(a) for a in argv_for(name, b, "node-a", "192.0.2.7", "localhost/remotedev/pause:abc")]

    def value(args: list[str], flag: str) -> str:
        return args[args.index(flag) + 1]

    kubelet = argv("kubelet")
    assert value(kubelet, "--config") == str(state.kubelet_config)
    assert value(kubelet, "--pod-infra-container-image") == "localhost/remotedev/pause:abc"
    assert value(kubelet, "--node-ip") == "192.0.2.7"
    apiserver = argv("kube-apiserver")
    assert value(apiserver, "--secure-port") == "6443"
    assert value(apiserver, "--service-cluster-ip-range") == layout.SERVICE_CIDR
    assert value(argv("etcd"), "--data-dir") == str(state.etcd)
    assert value(argv("coredns"), "-conf") == str(state.corefile)
    assert value(argv("containerd"), "--config") == str(state.containerd_config)
    engine = argv("network-policies")
    assert value(engine, "-kubeconfig") == str(state.kubeconfig("network-policies"))
    assert value(engine, "-hostname-override") == "node-a"  # it filters only the pods of its node
    assert value(engine, "-metrics-bind-address") == layout.NETPOL_METRICS
    assert value(engine, "-pod-interface") == layout.BRIDGE  # pods' connections to the node are judged too
    assert value(engine, "-pod-cidr") == layout.POD_SUBNET


def test_ingress_controller_redirects_http_terminates_tls_and_reads_the_cluster(state, tmp_path):
    args = [str(a) for a in argv_for("traefik", FakeBinaries(tmp_path / "bin"), "node-a", "192.0.2.7", "ref")]
    assert f"--entrypoints.web.address=:{layout.INGRESS_HTTP_PORT}" in args
    assert f"--entrypoints.websecure.address=:{layout.INGRESS_HTTPS_PORT}" in args
    assert "--entrypoints.web.http.redirections.entrypoint.to=websecure" in args
    assert "--entrypoints.websecure.http.tls=true" in args
    assert f"--providers.file.filename={state.ingress_dynamic}" in args
    assert "--providers.kubernetesingress.ingressendpoint.ip=192.0.2.7" in args
    assert f"--entrypoints.websecure.transport.respondingTimeouts.idleTimeout={layout.INGRESS_IDLE_TIMEOUT}s" in args
    assert env_for("traefik") == {"KUBECONFIG": str(state.kubeconfig("traefik"))}
    assert env_for("kubelet") is None


def test_module_build_key_follows_module_version_and_flags_not_the_repository(monkeypatch):
    monkeypatch.setattr(build.Build, "go_version", lambda self: "go1.26.0")
    first = build.ModuleBuild("traefik", "example.com/m", "v1.0.0", {"m": ("./cmd/m", "-s")})
    assert first.key().startswith("traefik-v1.0.0-")
    assert first.key() == build.ModuleBuild("traefik", "example.com/m", "v1.0.0", {"m": ("./cmd/m", "-s")}).key()
    assert first.key() != build.ModuleBuild("traefik", "example.com/m", "v1.0.1", {"m": ("./cmd/m", "-s")}).key()
    assert first.key() != build.ModuleBuild("traefik", "example.com/m", "v1.0.0", {"m": ("./cmd/m", "-s -w")}).key()
    assert build.ingress_build().version == build.INGRESS_VERSION


def test_pid_records_follow_the_very_process_they_started(state):
    pid = processes.start_process("sleeper", ["sleep", "60"])
    try:
        assert processes.running_pid("sleeper") == pid
        record = processes.pid_record("sleeper")
        assert record["argv"] == ["sleep", "60"] and record["start"] == processes.proc_start_time(pid)
        assert "===== " in state.log_file("sleeper").read_text(encoding="utf-8")
        # Same PID, another start time: a recycled PID, not ours.
        state.pid_file("sleeper").write_text(json.dumps(dict(record, start="1")), encoding="utf-8")
        assert processes.running_pid("sleeper") is None
        state.pid_file("sleeper").write_text(json.dumps(record), encoding="utf-8")
        assert processes.stop_process("sleeper", timeout=5) is True
        assert processes.running_pid("sleeper") is None
        assert not state.pid_file("sleeper").exists()
        assert processes.stop_process("sleeper") is False
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_restart_takes_a_component_name_and_refuses_one_that_is_not_running(state, capsys):
    args = cluster.parser().parse_args(["restart", "kube-apiserver", "--kill"])
    assert (args.func, args.component, args.kill) == (cluster.cmd_restart, "kube-apiserver", True)
    with pytest.raises(SystemExit):
        cluster.parser().parse_args(["restart", "no-such-component"])
    assert "invalid choice" in capsys.readouterr().err
    if os.geteuid() == 0:
        # Nothing runs from the temporary state dir: nothing is killed, the message names it.
        assert cluster.main(["restart", "kube-apiserver"]) == 1
        assert "kube-apiserver is not running" in capsys.readouterr().err


def test_status_exit_code():
    up = ("x", "1", "1 MiB", "ok")
    assert status.exit_code([up, up]) == 0
    assert status.exit_code([up, ("y", "2", "1 MiB", "unhealthy (0 refused)")]) == 1
    assert status.exit_code([up, ("y", "-", "-", "stopped")]) == 1
    assert status.exit_code([("y", "-", "-", "stopped")]) == 3


# ---------------------------------------------------------------- host facts and networking


def test_node_address_is_the_default_routes_not_a_bridges():
    def link(name: str, address: str, scope: str = "global") -> dict:
        return {"ifname": name, "addr_info": [{"family": "inet", "scope": scope, "local": address}]}

    links = [
        link("lo", "127.0.0.1", "host"),
        link("docker0", "172.17.0.1"),
        link(layout.BRIDGE, "10.244.0.1"),
        link("eth1", "198.51.100.5"),
        link("eth0", "192.0.2.7"),
    ]
    assert layout.primary_address(links, ["eth0"]) == "192.0.2.7"
    assert layout.primary_address(links, []) == "198.51.100.5"


def test_cni_cleanup_takes_only_this_networks_rules():
    rules = [
        ":CNI-abc - [0:0]",
        '-A POSTROUTING -s 10.244.0.5/32 -m comment --comment "name: \\"remotedev\\" id: \\"1\\"" -j CNI-abc',
        '-A CNI-abc -d 10.244.0.0/24 -m comment --comment "name: \\"remotedev\\" id: \\"1\\"" -j ACCEPT',
        '-A POSTROUTING -s 10.88.0.5/32 -m comment --comment "name: \\"podman\\" id: \\"2\\"" -j CNI-def',
    ]
    specs, chains = network.cni_rules_to_delete(rules, "remotedev")
    assert [spec[0] for spec in specs] == ["POSTROUTING", "CNI-abc"]
    assert chains == ["CNI-abc"]


def test_mounts_under_the_state_dir_only():
    root = Path("/srv/state")
    mountinfo = "\n".join(
        f"{n} 1 0:1 / {point} rw - tmpfs tmpfs rw"
        for n, point in enumerate(["/srv/state/run/netns/a", "/srv/state-other", "/srv/state/with\\040space", "/"])
    )
    assert network.mounts_under(root, mountinfo) == ["/srv/state/run/netns/a", "/srv/state/with space"]


# ---------------------------------------------------------------- DNS probe


def reply_to(query: bytes, answers: list[bytes], flags: int = 0x8180) -> bytes:
    header = query[:2] + struct.pack(">HHHHH", flags, 1, len(answers), 0, 0)
    return header + query[12:] + b"".join(answers)


def record(name: bytes, rtype: int, rdata: bytes) -> bytes:
    return name + struct.pack(">HHIH", rtype, 1, 30, len(rdata)) + rdata


POINTER_TO_QUESTION = b"\xc0\x0c"


def test_a_records_read_compressed_and_plain_names_and_skip_other_types():
    query = dns.query_message(0x1234, "kubernetes.default.svc.cluster.local")
    plain = b"\x05other\x03svc\x00"
    answers = [
        record(POINTER_TO_QUESTION, 5, plain),  # a CNAME first
        record(plain, dns.TYPE_A, socket.inet_aton("10.96.0.1")),
        record(POINTER_TO_QUESTION, dns.TYPE_A, socket.inet_aton("10.96.0.2")),
    ]
    assert dns.a_records(reply_to(query, answers), query) == ["10.96.0.1", "10.96.0.2"]


def test_a_records_reject_other_ids_errors_and_garbage():
    query = dns.query_message(0x1234, "kubernetes.default.svc.cluster.local")
    answer = [record(POINTER_TO_QUESTION, dns.TYPE_A, socket.inet_aton("10.96.0.1"))]
    other = dns.query_message(0x4321, "kubernetes.default.svc.cluster.local")
    assert dns.a_records(reply_to(other, answer), query) == []
    assert dns.a_records(reply_to(query, [], flags=0x8183), query) == []  # NXDOMAIN
    assert dns.a_records(reply_to(query, answer)[:-3], query) == []  # cut short
    assert dns.a_records(b"\x12", query) == []


def test_dns_query_asks_a_server_over_udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)

        def answer_once():
            query, client = server.recvfrom(512)
            server.sendto(reply_to(query, [record(POINTER_TO_QUESTION, 1, socket.inet_aton("10.96.0.1"))]), client)

        thread = threading.Thread(target=answer_once)
        thread.start()
        try:
            assert dns.dns_query("127.0.0.1", "kubernetes.default", port=server.getsockname()[1]) == ["10.96.0.1"]
        finally:
            thread.join()


# ---------------------------------------------------------------- sandbox image


def blob(archive: tarfile.TarFile, digest: str) -> bytes:
    data = archive.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    return data


def test_pause_image_is_a_valid_oci_archive_of_the_pause_binary(tmp_path):
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF pretend static binary")
    b = FakeBinaries(tmp_path)
    ref = images.pause_image_ref(b)
    assert ref == f"localhost/remotedev/pause:{hashlib.sha256(binary.read_bytes()).hexdigest()[:12]}"
    with tarfile.open(fileobj=io.BytesIO(images.pause_oci_archive(b, ref))) as archive:
        assert json.loads(archive.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}
        index = json.loads(archive.extractfile("index.json").read())
        (descriptor,) = index["manifests"]
        assert descriptor["annotations"]["io.containerd.image.name"] == ref
        assert descriptor["platform"] == {"architecture": "amd64", "os": "linux"}
        manifest = json.loads(blob(archive, descriptor["digest"]))
        config = json.loads(blob(archive, manifest["config"]["digest"]))
        (layer_descriptor,) = manifest["layers"]
        layer = blob(archive, layer_descriptor["digest"])
        assert config["rootfs"]["diff_ids"] == [layer_descriptor["digest"]]
        assert config["config"]["Entrypoint"] == ["/pause"]
        with tarfile.open(fileobj=io.BytesIO(layer)) as rootfs:
            member = rootfs.getmember("pause")
            assert member.mode == 0o755
            assert rootfs.extractfile(member).read() == binary.read_bytes()


# ---------------------------------------------------------------- the command line


def test_the_script_runs_from_any_directory(tmp_path):
    env = dict(os.environ, REMOTEDEV_CLUSTER_DIR=str(tmp_path / "state"))
    result = subprocess.run(
        [sys.executable, str(CLUSTER_PY), "env"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == [
        f"KUBECONFIG={tmp_path / 'state' / 'admin.kubeconfig'}",
        "REGISTRY=127.0.0.1:5000",
    ]
    assert "not running" in result.stderr
    usage = subprocess.run(
        [sys.executable, str(CLUSTER_PY), "--help"], cwd="/", capture_output=True, text=True, check=True
    )
    for command in ("build", "up", "down", "purge", "status", "env", "registry", "kubectl"):
        assert command in usage.stdout


@pytest.mark.parametrize("command", ["up", "down", "purge"])
def test_commands_that_change_the_host_refuse_without_root(command, monkeypatch, capsys):
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 1000)
    assert cluster.main([command]) == 1
    assert f"`{command}` must run as root" in capsys.readouterr().err
