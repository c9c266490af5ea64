# The collection as users get it: built with ansible-galaxy, installed into an
# empty collections path, used from there with no trace of this checkout.

.PHONY: build test-build
DIST_DIR := $(CACHE_DIR)/dist

build: venv ## build the collection tarball into $(CACHE_DIR)/dist
	rm -rf $(DIST_DIR) && mkdir -p $(DIST_DIR)
	$(BIN)/ansible-galaxy collection build --force --output-path $(DIST_DIR) .

test-build: build ## install the built tarball into an empty path and use it
	tests/collection/test_installed_collection.sh $(DIST_DIR)
TEST_TARGETS += test-build
