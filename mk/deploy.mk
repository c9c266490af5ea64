# ---------------------------------------------------------------- deploy (roles jupyter_server, code_server; playbooks)
#
#   make deploy        build the images (image role) and deploy the `local`
#                      environment of inventory/example: to $KUBECONFIG's
#                      cluster when KUBECONFIG is set, else to the local
#                      cluster (started when needed)
#   make test-deploy   the deploy proofs in tests/deploy: rendering, bad input
#                      (against the cluster: nothing may be created); the
#                      lifecycle on the cluster is Molecule's (mk/molecule.mk)
#   make teardown      remove the `local` instances (volumes kept;
#                      DEPLOY_ARGS='-e purge_data=true' deletes them too)
#   make bench-deploy  the deploy engine against a kubectl floor (1 and N
#                      instances, no-op re-run; BENCH_DEPLOY_ARGS='--instances 5
#                      --json figures.json --strict'); not part of `make test`

DEPLOY_INVENTORY ?= inventory/example
DEPLOY_LIMIT ?= local
DEPLOY_ARGS ?=
DEPLOY_PYTEST_ARGS ?=
BENCH_DEPLOY_ARGS ?=

.PHONY: deploy teardown test-deploy bench-deploy

deploy: system-deps venv collection image-base $(LOCAL_CLUSTER) ## build the images and deploy inventory/example's `local` instances
	$(BIN)/ansible-playbook -i $(DEPLOY_INVENTORY) playbooks/site.yml \
	  --limit $(DEPLOY_LIMIT) $(DEPLOY_ARGS)
ifneq ($(LOCAL_CLUSTER),)
	@# kube-proxy runs on this machine, so the ClusterIPs answer here without a port-forward.
	@echo
	@echo "Local cluster: export KUBECONFIG=$(KUBECONFIG)"
	@echo "(kubectl: tools/localcluster/cluster.py kubectl ...). Its Services answer on this machine:"
	@$(PYTHON) tools/localcluster/cluster.py kubectl get services --all-namespaces \
	  --selector app.kubernetes.io/managed-by=remotedev.jupyter \
	  -o jsonpath='{range .items[*]}  {.metadata.namespace}/{.metadata.name}{"\t"}http://{.spec.clusterIP}:{.spec.ports[0].port}/{"\n"}{end}'
	@echo "and through its ingress controller over HTTPS (trust $(dir $(KUBECONFIG))pki/ingress-ca.crt):"
	@$(PYTHON) tools/localcluster/cluster.py kubectl get ingresses --all-namespaces \
	  --selector app.kubernetes.io/managed-by=remotedev.jupyter \
	  -o jsonpath='{range .items[*]}{range .spec.rules[*]}  https://{.host}{.http.paths[0].path}{"\n"}{end}{end}'
endif

teardown: venv collection ## remove inventory/example's `local` instances (keeps their volumes)
	$(BIN)/ansible-playbook -i $(DEPLOY_INVENTORY) playbooks/teardown.yml \
	  --limit $(DEPLOY_LIMIT) $(DEPLOY_ARGS)

test-deploy: venv collection $(LOCAL_CLUSTER) ## deploy proofs without a deployment: rendering, role docs, bad input refused before any change
	$(BIN)/python -m pytest -v -p no:cacheprovider -rA --durations=10 \
	  tests/deploy $(DEPLOY_PYTEST_ARGS)

TEST_TARGETS += test-deploy

# A benchmark, not a test: ratios against the kubectl floor of the same run
# (docs/benchmarks.md); nothing fails on a number unless --strict is given.
bench-deploy: venv collection image-base $(LOCAL_CLUSTER) ## deploy engine vs kubectl: 1 and N instances, no-op re-run, controller memory
	$(BIN)/python bench/deploy.py $(BENCH_DEPLOY_ARGS)
