# The collection as users get it: built with ansible-galaxy, installed into an
# empty collections path, used from there with no trace of this checkout.

.PHONY: build test-build builder-venv
DIST_DIR := $(CACHE_DIR)/dist
# ansible-builder is a tool for the test, not part of any shared stack: a small
# virtualenv of its own under the cache directory.
BUILDER_VENV := $(CACHE_DIR)/venv-ansible-builder

builder-venv: $(BUILDER_VENV)/.installed
$(BUILDER_VENV)/.installed: requirements-builder.txt
	test -x $(BUILDER_VENV)/bin/python || $(PYTHON) -m venv $(BUILDER_VENV)
	$(BUILDER_VENV)/bin/python $(PIP_INSTALL) -r requirements-builder.txt
	touch $@

build: venv ## build the collection tarball into $(CACHE_DIR)/dist
	rm -rf $(DIST_DIR) && mkdir -p $(DIST_DIR)
	$(BIN)/ansible-galaxy collection build --force --output-path $(DIST_DIR) .

test-build: build builder-venv ## install the built tarball into an empty path and use it; its EE definition
	tests/collection/test_installed_collection.sh $(DIST_DIR)
	tests/collection/test_execution_environment.sh $(DIST_DIR) $(BUILDER_VENV)/bin/ansible-builder
TEST_TARGETS += test-build
