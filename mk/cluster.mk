# The local single-node Kubernetes (tools/localcluster): built from Go sources,
# run as background processes, used by the tests and by `make deploy` when no
# KUBECONFIG is given. The tool is stdlib-only Python; it needs root.

CLUSTER := $(PYTHON) tools/localcluster/cluster.py

# The cluster every target works on, looked up here only: the one $KUBECONFIG
# names when the caller gives it, else the local cluster, which the targets
# that need it start ($(LOCAL_CLUSTER)) and Molecule's create brings up
# (REMOTEDEV_LOCAL_CLUSTER). Exported, so the stages of `make test` and the
# tests they run all see the same one.
ifeq ($(origin KUBECONFIG)$(REMOTEDEV_LOCAL_CLUSTER),environment)
LOCAL_CLUSTER :=
else
LOCAL_CLUSTER := cluster-up
export REMOTEDEV_LOCAL_CLUSTER := 1
export KUBECONFIG := $(shell $(CLUSTER) env | sed -n 's/^KUBECONFIG=//p')
endif

.PHONY: cluster-build cluster-up cluster-down cluster-purge cluster-status cluster-env test-cluster bench-cluster

cluster-build: ## build (or reuse) the cluster binaries, cached by version in $(CACHE_DIR)/cluster/bin
	$(CLUSTER) build

cluster-up: system-deps ## start the local cluster (idempotent; waits for node Ready and DNS)
	$(CLUSTER) up

cluster-down: ## stop the local cluster (state and the registry are kept)
	$(CLUSTER) down

cluster-purge: ## stop the local cluster and delete its state (etcd, volumes, images, certificates)
	$(CLUSTER) purge

cluster-status: ## each component of the local cluster: PID, memory, health
	$(CLUSTER) status

cluster-env: ## KUBECONFIG= and REGISTRY= lines for the local cluster
	@$(CLUSTER) env

test-cluster: venv cluster-up ## smoke test of the local cluster through the real API
	$(BIN)/python -m pytest -v -p no:cacheprovider tools/localcluster/tests
TEST_TARGETS += test-cluster

# BENCH_CLUSTER_ARGS=--cold also times a build from empty Go caches (~15 min).
bench-cluster: cluster-build ## cluster figures against the targets: cold build, warm up to Ready, memory
	$(PYTHON) bench/cluster.py $(BENCH_CLUSTER_ARGS)
