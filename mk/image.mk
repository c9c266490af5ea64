# ---------------------------------------------------------------- image (role remotedev.jupyter.image)
#
#   make images        base image, then the jupyter (pip flavor), code-server and
#                      frontend images built with podman and pushed to the local registry
#   make test-image    the image role's proof: both builders, registry, run checks;
#                      the standalone frontend (bundle, proxy, Chromium) on a local server
#   make test-image-public-base  (opt-in) the jupyter image from a bare Debian base
#   make bench-image   kernel round-trip vs the ZMQ floor, rebuild time, sizes

IMAGE_REGISTRY ?= 127.0.0.1:5000
IMAGE_BUILDER ?= podman
# The debootstrap base of make image-base, not the role's public default.
IMAGE_BASE ?= $(IMAGE_REGISTRY)/remotedev/debian:bookworm
IMAGE_EXTRA_VARS = -e '{"image_registry": "$(IMAGE_REGISTRY)", "image_registry_tls": false, "image_push": true, "image_builder": "$(IMAGE_BUILDER)", "image_pip_base_image": "$(IMAGE_BASE)", "image_code_server_base_image": "$(IMAGE_BASE)", "image_frontend_base_image": "$(IMAGE_BASE)"}'

.PHONY: image-base images test-image test-image-public-base bench-image dockerd-start dockerd-stop

image-base: ## Debian base image (debootstrap) in the local registry
	scripts/local-registry start >/dev/null
	scripts/debian-base-image --push $(IMAGE_REGISTRY)

images: venv collection image-base ## build and push the jupyter, code-server and frontend images
	$(BIN)/ansible-playbook playbooks/build_image.yml $(IMAGE_EXTRA_VARS)
	$(BIN)/ansible-playbook playbooks/build_image.yml $(IMAGE_EXTRA_VARS) -e image_kind=code_server
	$(BIN)/ansible-playbook playbooks/build_image.yml $(IMAGE_EXTRA_VARS) -e image_kind=frontend

dockerd-start: ## Debian's dockerd on its own socket (for the docker builder)
	scripts/dockerd start

dockerd-stop:
	scripts/dockerd stop

# e2e-node-deps (mk/molecule.mk): playwright-core for the standalone frontend's
# browser check (tests/image/test_frontend.py, no cluster).
test-image: venv lint-venv collection e2e-node-deps ## image role: podman and dockerd builds, registry, running images, the standalone frontend in Chromium
	$(BIN)/python -m pytest tests/image -v -p no:cacheprovider -o log_cli=false -rA --durations=15

bench-image: venv collection image-base ## image role benchmarks (ratios against baselines of the same run)
	$(BIN)/python bench/image_latency.py
	$(BIN)/python bench/image_build.py

# Opt-in, not in make test (minutes of apt and a cold build): the jupyter image
# from a bare Debian base without python3 and tini, like the role's public
# default, which the build completes from the base's apt sources.
test-image-public-base: venv lint-venv collection ## opt-in: the jupyter image built from a bare Debian base (no python3, no tini)
	REMOTEDEV_PUBLIC_BASE_TEST=1 $(BIN)/python -m pytest tests/image/test_public_base.py -v -p no:cacheprovider -o log_cli=false -rA --durations=5

TEST_TARGETS += test-image
