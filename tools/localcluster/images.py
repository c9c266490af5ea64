"""The pod sandbox ("pause") image: nothing can be pulled here, so the static
Go pause of addons/pause is packed into an OCI archive and imported into the
cluster's containerd."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile

from . import layout
from .build import Binaries
from .util import log, run


def pause_image_ref(b: Binaries) -> str:
    # Named by the binary's hash: a rebuilt pause is a new image, never a stale one.
    digest = hashlib.sha256(b["pause"].read_bytes()).hexdigest()[:12]
    return f"localhost/remotedev/pause:{digest}"


def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def tar_entry(name: str, data: bytes | None = None, mode: int = 0o644, kind=tarfile.REGTYPE) -> tuple:
    # mtime 0: the same binary gives the same layer digest.
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 0
    info.size = len(data) if data is not None else 0
    return info, data


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pause_oci_archive(b: Binaries, ref: str) -> bytes:
    """An OCI image archive holding only the static pause binary."""
    layer = tar_bytes([tar_entry("pause", b["pause"].read_bytes(), 0o755)])
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
            "history": [{"created_by": "tools/localcluster/cluster.py (static Go pause)"}],
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer), "size": len(layer)}
            ],
        },
        sort_keys=True,
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
                    },
                }
            ],
        }
    ).encode()
    blobs = [tar_entry(f"blobs/sha256/{sha256(data).split(':')[1]}", data) for data in (layer, config, manifest)]
    return tar_bytes(
        [tar_entry("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), tar_entry("index.json", index)]
        + [
            tar_entry("blobs/", kind=tarfile.DIRTYPE, mode=0o755),
            tar_entry("blobs/sha256/", kind=tarfile.DIRTYPE, mode=0o755),
        ]
        + blobs
    )


def ensure_pause_image(b: Binaries) -> None:
    """Imports the sandbox image into containerd's k8s.io namespace unless it is there."""
    ref = pause_image_ref(b)
    ctr = ["ctr", "--address", layout.STATE.containerd_sock, "--namespace", "k8s.io"]
    listed = run([*ctr, "images", "list", "--quiet"]).stdout.split()
    if ref in listed:
        return
    with tempfile.NamedTemporaryFile(suffix=".tar") as archive:
        archive.write(pause_oci_archive(b, ref))
        archive.flush()
        run([*ctr, "images", "import", "--all-platforms", archive.name])
    log(f"imported the sandbox image {ref}")
