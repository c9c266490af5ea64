# ---------------------------------------------------------------- molecule (molecule/default)
#
#   make test-molecule   the whole product end to end: cluster, images, site
#                        playbook, idempotence, verify, side effect, verify,
#                        teardown keeping data, purge
#
# The cluster: $KUBECONFIG when the caller gives one, else the local cluster,
# which molecule's create step brings up.

E2E_NODE_DIR := tests/e2e/node
MOLECULE_ARGS ?=

ifeq ($(origin KUBECONFIG),environment)
MOLECULE_ENV := KUBECONFIG=$(KUBECONFIG)
else
MOLECULE_ENV = KUBECONFIG=$(shell $(PYTHON) tools/localcluster/cluster.py env | sed -n 's/^KUBECONFIG=//p') \
  REMOTEDEV_LOCAL_CLUSTER=1
endif

.PHONY: e2e-node-deps test-molecule molecule-converge molecule-verify molecule-destroy

e2e-node-deps: $(E2E_NODE_DIR)/node_modules/.installed ## @jupyterlab/services and playwright-core for verify
$(E2E_NODE_DIR)/node_modules/.installed: $(E2E_NODE_DIR)/package.json $(E2E_NODE_DIR)/package-lock.json
	cd $(E2E_NODE_DIR) && npm ci --no-audit --no-fund
	touch $@

test-molecule: venv collection system-deps e2e-node-deps ## molecule test, then verify against deliberately broken deployments
	$(MOLECULE_ENV) $(BIN)/molecule test $(MOLECULE_ARGS)
	$(MOLECULE_ENV) $(BIN)/python -m pytest -v -p no:cacheprovider tests/e2e
TEST_TARGETS += test-molecule

molecule-converge: venv collection system-deps e2e-node-deps ## molecule create, prepare and converge (keeps the deployment)
	$(MOLECULE_ENV) $(BIN)/molecule converge $(MOLECULE_ARGS)

molecule-verify: venv collection e2e-node-deps ## molecule verify against the converged deployment
	$(MOLECULE_ENV) $(BIN)/molecule verify $(MOLECULE_ARGS)

molecule-destroy: venv collection ## molecule destroy: teardown with purge
	$(MOLECULE_ENV) $(BIN)/molecule destroy $(MOLECULE_ARGS)
