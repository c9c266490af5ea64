# Area "modules": password_hash, server_config, server_info, kernel_execute, build_context (plugins/modules,
# plugins/module_utils) and their functional tests (tests/functional: a real
# jupyter_server, code-server's npm argon2 verifier, ansible runs).
# Unit tests of module_utils run under `make units` (ansible-test units).

MODULES_NODE_DIR := tests/functional/node
MODULES_PYTEST_ARGS ?=

.PHONY: modules-node-deps server-config-schema server-config-schema-check test-modules

modules-node-deps: $(MODULES_NODE_DIR)/node_modules/.installed ## npm argon2 (code-server's verifier) for the module tests
$(MODULES_NODE_DIR)/node_modules/.installed: $(MODULES_NODE_DIR)/package.json $(MODULES_NODE_DIR)/package-lock.json
	cd $(MODULES_NODE_DIR) && npm ci --no-audit --no-fund
	touch $@

server-config-schema: venv ## regenerate plugins/module_utils/_server_config_schema.py from the pinned jupyter_server
	$(BIN)/python scripts/generate_server_config_schema.py

server-config-schema-check: venv
	$(BIN)/python scripts/generate_server_config_schema.py --check

# One worker per core (pytest-xdist): the tests are independent ansible-playbook
# runs and servers on free ports, and spend most of their time starting Python
# (212 s on one core of two, 148 s on both).
test-modules: venv collection modules-node-deps server-config-schema-check ## module functional tests (pytest + hypothesis)
	$(BIN)/python -m pytest -p no:cacheprovider -n auto tests/functional $(MODULES_PYTEST_ARGS)

TEST_TARGETS += test-modules
