"""Tests of tools/localcluster/cluster.py's own pieces that need no running cluster."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile

import pytest

from localcluster import build, cluster, images, pki  # conftest.py puts tools/ on sys.path


def blob(archive: tarfile.TarFile, digest: str) -> bytes:
    data = archive.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    return data


def test_pause_image_is_a_valid_oci_archive_of_the_pause_binary(tmp_path):
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF pretend static binary")

    class Built:
        def __getitem__(self, name):
            assert name == "pause"
            return binary

    ref = "localhost/remotedev/pause:abc"
    with tarfile.open(fileobj=io.BytesIO(images.pause_oci_archive(Built(), ref))) as archive:
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


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is a system dependency")
def test_certificates_chain_to_their_ca_and_carry_the_node_identity(tmp_path, monkeypatch):
    pki_dir = tmp_path / "pki"
    pki.ensure_pki(pki_dir, "node-a", "192.0.2.7")

    def verify(cert: str, ca: str) -> None:
        subprocess.run(
            ["openssl", "verify", "-CAfile", pki_dir / f"{ca}.crt", pki_dir / f"{cert}.crt"],
            check=True,
            capture_output=True,
        )

    def text(cert: str) -> str:
        return subprocess.run(
            ["openssl", "x509", "-noout", "-text", "-in", pki_dir / f"{cert}.crt"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    verify("apiserver", "ca")
    verify("kubelet-client", "ca")
    verify("apiserver-etcd-client", "etcd-ca")
    verify("front-proxy-client", "front-proxy-ca")
    apiserver = text("apiserver")
    for name in (
        "IP Address:10.96.0.1",
        "IP Address:192.0.2.7",
        "IP Address:127.0.0.1",
        "DNS:kubernetes.default.svc.cluster.local",
    ):
        assert name in apiserver
    kubelet = text("kubelet-client")
    assert "Subject: O = system:nodes, CN = system:node:node-a" in kubelet
    assert "TLS Web Client Authentication" in kubelet

    before = (pki_dir / "kubelet-server.crt").read_bytes()
    pki.ensure_pki(pki_dir, "node-a", "192.0.2.7")
    assert (pki_dir / "kubelet-server.crt").read_bytes() == before  # unchanged identity: kept
    pki.ensure_pki(pki_dir, "node-a", "192.0.2.8")
    assert (pki_dir / "kubelet-server.crt").read_bytes() != before  # new node IP: renewed
    assert "IP Address:192.0.2.8" in text("kubelet-server")


@pytest.mark.skipif(not shutil.which("go"), reason="Go builds the cluster")
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


def test_kubernetes_version_comes_from_the_module_pin():
    version = build.kubernetes_version()
    assert version.startswith("v1.")
    assert f"-X k8s.io/component-base/version.gitVersion={version}" in build.kube_ldflags(version)
    assert f"version.gitMinor={version.split('.')[1]}" in build.kube_ldflags(version)


@pytest.mark.parametrize("command", ["up", "down", "purge"])
def test_commands_that_change_the_host_refuse_without_root(command, monkeypatch, capsys):
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 1000)
    assert cluster.main([command]) == 1
    assert f"`{command}` must run as root" in capsys.readouterr().err
