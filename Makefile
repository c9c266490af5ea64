# remotedev.jupyter: one entry point for set-up, the local deployment (make deploy) and the tests.
#
#   make deploy local cluster (unless KUBECONFIG is set), images, deploy, how to connect
#   make test   every test: lint, sanity, units, functional, cluster, images, deploy,
#               molecule; then the time of each stage
#
# Every dependency is installed by the targets below; nothing is expected to be
# on the machine beyond Debian, a Python >= 3.12, Go and Node.js.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= $(shell scripts/find-python)
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/remotedev-jupyter
VENV := $(CURDIR)/.venv
LINT_VENV := $(CURDIR)/.venv-lint
CHECKOV_VENV := $(CURDIR)/.venv-checkov
BIN := $(VENV)/bin
LINT_BIN := $(LINT_VENV)/bin
COLLECTION_LINK := .collections/ansible_collections/remotedev/jupyter
SANITY_ROOT ?= $(CACHE_DIR)/ansible-test/ansible_collections/remotedev/jupyter
CONTROLLER_PYTHON_VERSION = $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export REMOTEDEV_CACHE_DIR := $(CACHE_DIR)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z][a-z0-9_-]*:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 24

# ---------------------------------------------------------------- set-up

.PHONY: deps system-deps venv lint-venv checkov-venv collection
deps: system-deps venv lint-venv checkov-venv collection ## install everything make deploy and the tests need

system-deps: ## Debian packages (apt, needs root)
	scripts/install-system-deps.sh
	scripts/configure-containers.sh

# --no-compile: `ansible` ships ~100 collections (tens of thousands of .py
# files) of which the tests import a few; compiling all of them at install
# time took about 40 of each virtualenv's 90 s. Python compiles what it
# imports on first use.
PIP_INSTALL := -m pip install -q --no-compile

venv: $(VENV)/.installed ## controller virtualenv (.venv)
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP_INSTALL) --upgrade pip
	$(BIN)/python $(PIP_INSTALL) -r requirements-dev.txt
	touch $@

lint-venv: $(LINT_VENV)/.installed ## linters' virtualenv (.venv-lint)
$(LINT_VENV)/.installed: requirements-lint.txt
	test -x $(LINT_BIN)/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_BIN)/python $(PIP_INSTALL) --upgrade pip
	$(LINT_BIN)/python $(PIP_INSTALL) -r requirements-lint.txt
	touch $@

# checkov pins much of its stack (boto3, networkx, an older kubernetes client):
# a virtualenv of its own, apart from the linters' too.
checkov-venv: $(CHECKOV_VENV)/.installed ## checkov's virtualenv (.venv-checkov)
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) --upgrade pip
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) -r requirements-checkov.txt
	touch $@

# Ansible finds this collection by FQCN through .collections (ansible.cfg);
# the link makes edits visible without reinstalling.
collection: $(COLLECTION_LINK)
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

# ---------------------------------------------------------------- checks

.PHONY: lint yamllint ansible-lint checkov sanity units
lint: yamllint ansible-lint checkov ## yamllint, ansible-lint (production profile), checkov on the rendered manifests and Containerfiles

yamllint: lint-venv
	$(LINT_BIN)/yamllint --strict .

ansible-lint: lint-venv collection
	PATH=$(LINT_BIN):$$PATH $(LINT_BIN)/ansible-lint --profile production --strict

# Every manifest the roles render and every Containerfile the image role
# renders (tests/checkov/render.yml): 0 failed, and a skip only with its reason
# in-line where it is declared (scripts/checkov-scan checks both).
checkov: venv checkov-venv collection ## checkov on the rendered manifests and Containerfiles (0 failed, skips with a reason)
	scripts/checkov-scan

# ansible-test wants the collection under ansible_collections/NS/NAME and looks
# at what git tracks; it runs on a fresh copy of exactly those files (a stale
# copy would let files deleted or ignored since the last run fail the checks).
sanity-tree: venv
	rm -rf $(SANITY_ROOT)
	mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | \
	  rsync -a --delete --from0 --files-from=- ./ $(SANITY_ROOT)/
	scripts/ansible-test-offline-pip $(BIN)/python

# The multi-version tests (compile, import) run on every supported Python that
# is on PATH; pyenv's interpreters are added when the machine has them.
SANITY_PYTHON_DIRS := $(wildcard $(HOME)/.pyenv/versions/3.*/bin)
empty :=
space := $(empty) $(empty)

sanity: sanity-tree ## ansible-test sanity (no ignore files), every Python found
	test ! -e tests/sanity || ! ls tests/sanity/ignore-*.txt >/dev/null 2>&1
	cd $(SANITY_ROOT) && PATH=$(subst $(space),:,$(SANITY_PYTHON_DIRS)):$$PATH \
	  $(BIN)/ansible-test sanity --venv --color no

units: sanity-tree ## ansible-test units
	cd $(SANITY_ROOT) && $(BIN)/ansible-test units --venv --python $(CONTROLLER_PYTHON_VERSION) --color no

# ---------------------------------------------------------------- areas

# Each area (modules, cluster, image, deploy, molecule) keeps its targets in
# mk/<area>.mk and appends its test target to TEST_TARGETS.
TEST_TARGETS :=
-include mk/*.mk

# ---------------------------------------------------------------- tests

# Quick and self-contained first, so a broken module fails the run before the
# cluster and the images are built; then each layer on top of the last.
TEST_ORDER := test-modules test-build test-cluster test-image test-deploy test-molecule
ifneq ($(sort $(TEST_ORDER)),$(sort $(TEST_TARGETS)))
$(error TEST_ORDER ($(TEST_ORDER)) and the areas' TEST_TARGETS ($(TEST_TARGETS)) differ)
endif

# Each stage is timed and the times are printed at the end (also when a stage
# fails), so that growth is seen at once; the README keeps the figures.
TEST_STAGES := deps lint sanity units $(TEST_ORDER)
STAGE_TIMES := $(CACHE_DIR)/test-stage-times.txt

.PHONY: test
test: ## run every test, then print the time of each stage
	@mkdir -p $(CACHE_DIR) && : > $(STAGE_TIMES)
	@for stage in $(TEST_STAGES); do \
	  start=$$(date +%s); \
	  if $(MAKE) --no-print-directory $$stage; then result=ok; else result=FAILED; fi; \
	  printf '  %-14s %6ss  %s\n' $$stage $$(( $$(date +%s) - start )) $$result >> $(STAGE_TIMES); \
	  [ $$result = ok ] || break; \
	done; \
	echo; echo "make test: seconds per stage"; cat $(STAGE_TIMES); \
	awk '{ total += $$2 } END { printf "  %-14s %6ss\n", "total", total }' $(STAGE_TIMES); \
	! grep -q FAILED $(STAGE_TIMES)
