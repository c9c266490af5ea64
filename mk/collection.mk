# The collection as users get it: built with ansible-galaxy, installed into an
# empty collections path, used from there with no trace of this checkout.

.PHONY: build test-build builder-venv importer-venv core-venvs
DIST_DIR := $(CACHE_DIR)/dist
# ansible-builder and galaxy-importer (Galaxy's and Automation Hub's import
# check, with its own ansible-core, ansible-lint and flake8) are tools for the
# test, not part of any shared stack: a small virtualenv each under the cache
# directory, from its own requirements file.
BUILDER_VENV := $(CACHE_DIR)/venv-ansible-builder
IMPORTER_VENV := $(CACHE_DIR)/venv-galaxy-importer

builder-venv: $(BUILDER_VENV)/.installed
importer-venv: $(IMPORTER_VENV)/.installed
$(BUILDER_VENV)/.installed: requirements-builder.txt
$(IMPORTER_VENV)/.installed: requirements-importer.txt
$(BUILDER_VENV)/.installed $(IMPORTER_VENV)/.installed:
	test -x $(@D)/bin/python || $(PYTHON) -m venv $(@D)
	$(@D)/bin/python $(PIP_INSTALL) -r $<
	touch $@

build: venv ## build the collection tarball into $(CACHE_DIR)/dist
	rm -rf $(DIST_DIR) && mkdir -p $(DIST_DIR)
	$(BIN)/ansible-galaxy collection build --force --output-path $(DIST_DIR) .

# Every ansible-core minor that meta/runtime.yml's requires_ansible claims is
# tested on the installed tarball (ansible-doc, the modules, both roles' render
# path); the newest is the controller venv's. Older ones get a small venv each
# under the cache directory (about 20 s the first time), two at a time.
ANSIBLE_CORE_OLDER := 2.17.14 2.18.19 2.19.14 2.20.10
CORE_VENV = $(CACHE_DIR)/ansible-core-$(1)
core-venvs: $(foreach v,$(ANSIBLE_CORE_OLDER),$(call CORE_VENV,$(v))/.installed)
$(CACHE_DIR)/ansible-core-%/.installed: requirements.txt
	test -x $(@D)/bin/python || $(PYTHON) -m venv $(@D)
	$(@D)/bin/python $(PIP_INSTALL) ansible-core==$* -r requirements.txt
	touch $@

test-build: build builder-venv importer-venv core-venvs ## install the built tarball into an empty path and use it on every claimed ansible-core; its EE definition; galaxy-importer: 0 errors, 0 warnings
	claimed=$$(sed -n 's/^requires_ansible: ">=\([0-9]*\.[0-9]*\)\..*/\1/p' meta/runtime.yml); \
	  [[ "$(firstword $(ANSIBLE_CORE_OLDER))" == "$$claimed".* ]] || \
	  { echo "meta/runtime.yml claims ansible-core $$claimed, ANSIBLE_CORE_OLDER starts at $(firstword $(ANSIBLE_CORE_OLDER))"; exit 1; }
	tests/collection/test_installed_collection.sh $(DIST_DIR)
	printf '%s\n' $(ANSIBLE_CORE_OLDER) | xargs -P 2 -I{} env PATH=$(CACHE_DIR)/ansible-core-{}/bin:$$PATH \
	  tests/collection/test_installed_collection.sh $(DIST_DIR)
	tests/collection/test_execution_environment.sh $(DIST_DIR) $(BUILDER_VENV)/bin/ansible-builder
	tests/collection/test_galaxy_importer.sh $(DIST_DIR) $(IMPORTER_VENV)
TEST_TARGETS += test-build
