"""A registry that wants credentials (basic authentication, htpasswd): the
role fails clearly without them, pushes with them (podman: per command;
docker: docker_login into a throw-away HOME), and the password appears in no
output, not even at -vvv."""

from __future__ import annotations

import tempfile
import uuid

import bcrypt
import pytest

from conftest import REPO, RUN_ID, run_role
from test_pip_image import KERNELS

from tests.support.playbook import run_playbook

USER = "ci-pusher"


@pytest.mark.parametrize("builder", ["podman", "docker"])
def test_credentials(builder, scratch_registry, base_image, request):
    password = "s3cret-" + uuid.uuid4().hex
    scratch_registry.start(htpasswd=f"{USER}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()}")
    repository = f"remotedev-test/{RUN_ID}/auth-{builder}"
    variables = {
        "image_builder": builder, "image_pip_base_image": base_image, "image_kernels": KERNELS,
        "image_registry": scratch_registry.address, "image_registry_tls": False, "image_push": True,
        "image_repository": repository,
    }
    if builder == "docker":
        variables["image_docker_host"] = request.getfixturevalue("dockerd")
    with tempfile.TemporaryDirectory(prefix="image-auth-home-") as home:
        # docker_login stores the credentials in ~/.docker/config.json, podman
        # looks for auth files in $XDG_RUNTIME_DIR and ~/.docker: keep both out
        # of the real home directory.
        env = {"HOME": home, "XDG_RUNTIME_DIR": home}

        anonymous = run_role(variables, env=env)
        assert anonymous.rc != 0
        assert "refused to show" in anonymous.failure and "401" in anonymous.failure
        assert "Nothing was built or pushed" in anonymous.failure

        with_credentials = dict(variables, image_registry_username=USER, image_registry_password=password)
        verbose = run_playbook(REPO / "playbooks/build_image.yml", extra_vars=with_credentials, verbosity=3, env=env,
                               timeout=3600)
        assert verbose.rc == 0, verbose.summary()
        assert password not in verbose.output, "the registry password leaked into the output"
        pushed = scratch_registry.tags(repository, auth=(USER, password))
        assert len(pushed) == 1

        again = run_role(with_credentials, env=env)
        assert again.rc == 0, again.failure
        assert again.changed() == 0
        assert again.facts["tag"] in pushed
        assert password not in again.output
