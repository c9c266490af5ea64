"""The rendered build contexts (image_render_only): the conda flavor, which
cannot be built here (no conda channel), the pip flavor, code-server and the
frontend, all
linted with hadolint; the structure of the original design in the conda
flavor; the extension opt-out; deterministic output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, run_role

HADOLINT = REPO / ".venv-lint/bin/hadolint"
SEED_KERNELS = [  # the original design: python 3.8 and 2.7 environments
    {"name": "python3", "display_name": "python3.8", "python": "3.8"},
    {"name": "python2", "display_name": "python2.7", "python": "2.7"},
]


def render(tmp_path: Path, **variables) -> Path:
    context = tmp_path / "context"
    result = run_role({"image_render_only": True, "image_context_dir": str(context), **variables})
    assert result.rc == 0, result.failure
    return context


def hadolint(containerfile: Path) -> None:
    assert HADOLINT.exists(), "hadolint missing: make lint-venv"
    result = subprocess.run([HADOLINT, "--no-color", containerfile], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_conda_flavor_seed_structure(tmp_path):
    context = render(tmp_path, image_flavor="conda", image_kernels=SEED_KERNELS,
                     image_conda_channel_alias="https://conda-mirror.example.invalid",
                     image_conda_channels=["conda-forge", "internal"])
    containerfile = (context / "Containerfile").read_text()
    hadolint(context / "Containerfile")
    for kernel in SEED_KERNELS:
        assert (f"micromamba create --yes --rc-file /build/condarc --prefix /opt/kernels/{kernel['name']} "
                f"python={kernel['python']} ipykernel") in containerfile
        assert (f"/opt/kernels/{kernel['name']}/bin/python -m ipykernel install --prefix /opt/jupyter "
                f"--name {kernel['name']} --display-name {kernel['display_name']}") in containerfile
    assert "FROM mambaorg/micromamba:" in containerfile
    assert "USER 1000:100" in containerfile and 'ENTRYPOINT ["/opt/jupyter/bin/tini", "-g", "--"]' in containerfile
    assert "HEALTHCHECK" in containerfile and "/usr/local/bin/jupyter-healthcheck" in containerfile
    # Caches stay in the build stage: only the environments reach the image.
    final_stage = containerfile.split("# ---------------------------------------------------------------- the image")[1]
    assert "COPY --from=build /opt/jupyter /opt/jupyter" in final_stage
    assert "/opt/conda" not in final_stage
    condarc = (context / "conda/condarc").read_text()
    assert 'channel_alias: "https://conda-mirror.example.invalid"' in condarc
    assert '- "conda-forge"\n  - "internal"' in condarc


def test_conda_flavor_defaults_are_current(tmp_path):
    containerfile = (render(tmp_path, image_flavor="conda") / "Containerfile").read_text()
    assert "--prefix /opt/kernels/python3 python=3.13 ipykernel" in containerfile
    assert "--prefix /opt/kernels/python311 python=3.11 ipykernel" in containerfile
    assert "python=2.7" not in containerfile


@pytest.mark.parametrize("kind", ["jupyter", "code_server", "frontend"])
def test_pip_flavor_and_code_server_lint_clean(tmp_path, kind):
    context = render(tmp_path, image_kind=kind)
    hadolint(context / "Containerfile")
    containerfile = (context / "Containerfile").read_text()
    assert 'ENTRYPOINT ["/usr/bin/tini", "-g", "--"]' in containerfile
    assert "USER 1000:100" in containerfile
    instructions = [line for line in containerfile.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in instructions if "sudo" in line or "fixuid" in line]


@pytest.mark.parametrize("extension", ["remotedev_nodelay", "remotedev_users"])
def test_extension_sources_are_all_in_the_context(tmp_path, extension):
    context = render(tmp_path)
    source = REPO / "roles/image/files" / extension
    shipped = {p.relative_to(source) for p in source.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    rendered = {p.relative_to(context / "src" / extension) for p in (context / "src" / extension).rglob("*")
                if p.is_file()}
    assert rendered == shipped
    for path in shipped:
        assert (context / "src" / extension / path).read_bytes() == (source / path).read_bytes()
    enabled = (context / f"prefix/etc/jupyter/jupyter_server_config.d/{extension}.json").read_text()
    assert f'"{extension}": true' in enabled
    assert f"COPY src/{extension} /build/src/{extension}" in (context / "Containerfile").read_text()


def test_extension_opt_out(tmp_path):
    context = render(tmp_path, image_nodelay_extension=False, image_users_extension=False)
    assert not (context / "src").exists()
    assert not (context / "prefix/etc/jupyter/jupyter_server_config.d").exists()
    containerfile = (context / "Containerfile").read_text()
    assert "remotedev_nodelay" not in containerfile and "remotedev_users" not in containerfile


@pytest.mark.parametrize(
    ("server_packages", "expected"),
    [
        (["jupyter_server==2.21.1", "jupyterlab==4.6.6"], True),
        (["jupyter_server==2.21.1", "JupyterLab[test]>=4"], True),
        (["jupyter_server==2.21.1", "jupyterlab-git"], False),
        (["jupyter_server==2.21.1"], False),
    ],
)
def test_jupyterlab_does_not_phone_home(tmp_path, server_packages, expected):
    context = render(tmp_path, image_server_packages=server_packages, image_server_extra_packages=[])
    overrides = context / "prefix/share/jupyter/lab/settings/overrides.json"
    assert overrides.exists() == expected
    if expected:
        settings = json.loads(overrides.read_text())
        assert settings == {
            "@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"}
        }


def test_rendering_is_deterministic(tmp_path):
    first = render(tmp_path / "a")
    second = render(tmp_path / "b")
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for path in files:
        assert (first / path).read_bytes() == (second / path).read_bytes()


def test_check_mode_fetches_and_builds_nothing():
    """A kernel whose wheelhouse is not cached yet: check mode reports the
    build it cannot hash yet, downloads nothing, builds nothing."""
    from conftest import CACHE_DIR

    before = set((CACHE_DIR / "wheelhouse").glob("*")) if (CACHE_DIR / "wheelhouse").exists() else set()
    kernels = [{"name": "python3"}, {"name": "extra", "packages": ["six==1.16.0"]}]
    result = run_role({"image_kernels": kernels}, check_mode=True)
    assert result.rc == 0, result.failure
    assert result.changed() > 0
    assert any("not in the cache yet" in t.msg for t in result.task("Report what check mode"))
    assert not result.ran("Download the wheels")
    assert result.facts["ref"] == ""
    after = set((CACHE_DIR / "wheelhouse").glob("*"))
    assert after == before


@pytest.mark.parametrize("kind", ["jupyter", "code_server"])
def test_public_base_gets_the_os_packages_it_lacks(tmp_path, kind):
    """The default base is a public Debian image by short name, which lacks
    python3 and tini: the build installs, from the base's own apt sources,
    only the listed packages that dpkg does not know, in a stage every later
    one starts from (make test-image-public-base builds from such a base)."""
    context = render(tmp_path, image_kind=kind)
    containerfile = (context / "Containerfile").read_text()
    froms = [line for line in containerfile.splitlines() if line.startswith("FROM ")]
    packages = "python3 python3-venv tini ca-certificates" if kind == "jupyter" else \
        "python3 tini ca-certificates libkrb5-3 libgssapi-krb5-2 git procps less"
    if kind == "jupyter":
        assert froms == ["FROM debian:bookworm-slim AS base", "FROM base AS build", "FROM base"]
    else:
        assert froms == ["FROM debian:bookworm-slim"]
    install = containerfile.split("RUN wanted=(", 1)[1].split("\n\n", 1)[0]
    assert install.startswith(f"{packages}); missing=();")
    assert "dpkg-query --show" in install and "apt-get install --yes --no-install-recommends" in install
    # Neither apt nor the package lists stay in the image's layers.
    assert "rm -rf /var/lib/apt/lists/*" in install
    assert containerfile.index("RUN wanted=(") < containerfile.index("useradd")
    # No registry host is written for the user: a short name or their own reference.
    mirrored = render(tmp_path / "own", image_kind=kind, image_pip_base_image="mirror.example.invalid/library/debian:12",
                      image_code_server_base_image="mirror.example.invalid/library/debian:12",
                      image_pip_os_packages=["tini", "ca-certificates"], image_code_server_os_packages=["tini"])
    own = (mirrored / "Containerfile").read_text()
    assert own.splitlines().count("FROM mirror.example.invalid/library/debian:12" + (" AS base" if kind == "jupyter" else "")) == 1
    assert "RUN wanted=(tini" in own and "python3-venv" not in own
    hadolint(mirrored / "Containerfile")


@pytest.mark.parametrize("flavor", ["pip", "conda"])
def test_pod_kernels_render(tmp_path, flavor):
    """image_pod_kernels: the provisioner, the pod launcher and the bootstrap in
    both flavors, lint clean; the kernel environments get the launcher's
    dependency; the whole package source is in the context."""
    context = render(tmp_path, image_flavor=flavor, image_pod_kernels=True,
                     image_conda_channel_alias="https://conda-mirror.example.invalid")
    hadolint(context / "Containerfile")
    containerfile = (context / "Containerfile").read_text()
    assert "COPY src/remotedev_kernel_pods /build/src/remotedev_kernel_pods" in containerfile
    assert "/opt/jupyter/bin/jupyter image-bootstrap install --languages Python" in containerfile
    final_stage = containerfile.split("# ---------------------------------------------------------------- the image")[1]
    assert "COPY --from=build /usr/local/bin/bootstrap-kernel.sh /usr/local/bin/bootstrap-kernel.sh" in final_stage
    assert "COPY --from=build /usr/local/bin/kernel-launchers /usr/local/bin/kernel-launchers" in final_stage
    assert 'io.remotedev.jupyter.pod-kernels="true"\nSHELL ["/bin/bash"' in final_stage  # the LABEL ends there
    if flavor == "pip":
        assert "--find-links /build/wheels/server jupyter_server==2.21.1 jupyterlab==4.6.6 " \
               "jupyter_server_terminals==0.5.4 'gateway_provisioners[k8s]==0.5.0'" in containerfile
        assert "--find-links /build/wheels/kernel-python3 ipykernel==7.4.0 pycryptodomex==3.24.2" in containerfile
    else:
        assert "gateway_provisioners python-kubernetes jinja2 flit-core" in containerfile
        assert "python=3.13 ipykernel pycryptodomex" in containerfile
    source = REPO / "roles/image/files/remotedev_kernel_pods"
    shipped = {p.relative_to(source) for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    rendered = {p.relative_to(context / "src/remotedev_kernel_pods")
                for p in (context / "src/remotedev_kernel_pods").rglob("*") if p.is_file()}
    assert rendered == shipped
    for path in shipped:
        assert (context / "src/remotedev_kernel_pods" / path).read_bytes() == (source / path).read_bytes()


def test_pod_kernels_off_by_default(tmp_path):
    containerfile = (render(tmp_path) / "Containerfile").read_text()
    assert "remotedev_kernel_pods" not in containerfile and "bootstrap-kernel" not in containerfile
    assert "gateway_provisioners" not in containerfile and "pycryptodomex" not in containerfile
