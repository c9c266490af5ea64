# ---------------------------------------------------------------- molecule (extensions/molecule/default)
#
#   make test-molecule   the whole product end to end, every lifecycle proof
#                        that needs a cluster, once: preview, site playbook,
#                        idempotence, verify, a setting, an upgrade and its
#                        roll-back, rotation at -vvv, a pod killed under a running
#                        kernel, faults (registry down, API server restart, node
#                        reboot, 20 clients at once), verify, verify failing on
#                        breakages, teardown keeping data, purge
#                        (the order and the reasons: extensions/molecule/default/molecule.yml)
#
# The cluster: $KUBECONFIG when the caller gives one, else the local cluster
# (mk/cluster.mk), started before molecule: the first step of `molecule test`
# (destroy: purge what an interrupted run left) already needs it.

E2E_NODE_DIR := tests/e2e/node
MOLECULE_ARGS ?=

.PHONY: e2e-node-deps test-molecule molecule-converge molecule-verify molecule-destroy bench-load bench-pod-kernels

e2e-node-deps: $(E2E_NODE_DIR)/node_modules/.installed ## @jupyterlab/services and playwright-core for verify
$(E2E_NODE_DIR)/node_modules/.installed: $(E2E_NODE_DIR)/package.json $(E2E_NODE_DIR)/package-lock.json
	cd $(E2E_NODE_DIR) && npm ci --no-audit --no-fund
	touch $@

test-molecule: venv collection system-deps e2e-node-deps $(LOCAL_CLUSTER) ## molecule test: every lifecycle proof on the cluster, once
	$(BIN)/molecule test $(MOLECULE_ARGS)
TEST_TARGETS += test-molecule

molecule-converge: venv collection system-deps e2e-node-deps ## molecule create, prepare and converge (keeps the deployment)
	$(BIN)/molecule converge $(MOLECULE_ARGS)

molecule-verify: venv collection e2e-node-deps ## molecule verify against the converged deployment
	$(BIN)/molecule verify $(MOLECULE_ARGS)

molecule-destroy: venv collection $(LOCAL_CLUSTER) ## molecule destroy: teardown with purge
	$(BIN)/molecule destroy $(MOLECULE_ARGS)

# A benchmark, not a test (docs/benchmarks.md): 20 clients through the
# Service against the ZMQ floor inside the pod, on the deployment of
# `make molecule-converge` (BENCH_LOAD_ARGS='--namespace NS --instance NAME'
# for another one); `make test-molecule` runs the same script briefly, for its
# errors and lost kernels only.
BENCH_LOAD_ARGS ?= --namespace remotedev-molecule --instance molecule
bench-load: venv $(LOCAL_CLUSTER) ## N clients through the Service vs the direct-ZMQ floor (BENCH_LOAD_ARGS)
	$(BIN)/python bench/load.py $(BENCH_LOAD_ARGS)

# A benchmark (docs/benchmarks.md): kernel start and execute round trip of a
# pod kernel against an in-server kernel of the same server, on the Molecule
# deployment's neighbour (the instance with pod kernels) unless
# BENCH_POD_KERNELS_ARGS='--namespace NS --instance NAME' names another one.
BENCH_POD_KERNELS_ARGS ?= --namespace remotedev-molecule --instance molecule-neighbour
bench-pod-kernels: venv $(LOCAL_CLUSTER) ## pod kernel vs in-server kernel: start time, round trip (BENCH_POD_KERNELS_ARGS)
	$(BIN)/python bench/pod_kernels.py $(BENCH_POD_KERNELS_ARGS)
