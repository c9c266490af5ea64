"""A registry that wants credentials (basic authentication, htpasswd) and
later refuses pushes, once per builder (podman: credentials per command;
docker: docker_login into a throw-away HOME). One scratch registry and one
upload per builder carry both proofs:

- without credentials the role fails clearly, before building anything;
- with them it pushes a release under a fixed tag, and the password appears
  in no output, not even at -vvv; a second run changes nothing;
- the registry then refuses every push (read-only maintenance mode): a changed
  image fails clearly, the registry still serves the old release under the
  fixed tag, and the builder's fixed tag was not moved."""

from __future__ import annotations

import tempfile
import uuid

import bcrypt
import pytest

from conftest import REPO, RUN_ID, Engine, run_role
from test_pip_image import KERNELS

from tests.support.playbook import run_playbook

USER = "ci-pusher"
FIXED_TAG = "stable"


@pytest.mark.parametrize("builder", ["podman", "docker"])
def test_credentials_then_a_refused_push(builder, scratch_registry, base_image, request):
    password = "s3cret-" + uuid.uuid4().hex
    htpasswd = f"{USER}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()}"
    scratch_registry.start(htpasswd=htpasswd)
    engine = Engine(builder)
    repository = f"remotedev-test/{RUN_ID}/registry-{builder}"
    # The kernels of test_pip_image: the builder's layer cache has the image,
    # so the time goes to what is tested here, the registry.
    variables = {
        "image_builder": builder, "image_pip_base_image": base_image, "image_kernels": KERNELS,
        "image_registry": scratch_registry.address, "image_registry_tls": False, "image_push": True,
        "image_repository": repository, "image_tag_policy": "fixed", "image_tag": FIXED_TAG,
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
        credentials = (USER, password)
        released = scratch_registry.tags(repository, auth=credentials)
        assert len(released) == 2 and FIXED_TAG in released, released
        assert len(set(released.values())) == 1, f"the fixed and the content tag differ: {released}"

        again = run_role(with_credentials, env=env)
        assert again.rc == 0, again.failure
        assert again.changed() == 0
        assert again.facts["ref"] == f"{scratch_registry.address}/{repository}:{FIXED_TAG}"
        assert again.facts["hash"][:16] in released
        assert password not in again.output
        stable_ref = again.facts["ref"]
        stable_id = engine.image_id(stable_ref)

        scratch_registry.start(readonly=True, htpasswd=htpasswd)
        # The next release changes the image's server configuration only: a
        # small last layer, so the time goes to the refused push, not a build.
        refused = run_role(dict(with_credentials, image_default_kernel=KERNELS[1]["name"]), env=env)
        assert refused.rc != 0
        assert f"pushing {scratch_registry.address}/{repository} to {scratch_registry.address} failed" in refused.failure
        assert "the registry's tags are as they were" in refused.failure
        assert password not in refused.output
        assert scratch_registry.tags(repository, auth=credentials) == released
        assert engine.image_id(stable_ref) == stable_id, "the fixed tag moved although the push failed"
