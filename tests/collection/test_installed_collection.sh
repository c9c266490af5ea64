#!/usr/bin/env bash
# Installs the built collection tarball into an empty collections path and
# checks that its documentation, modules and roles' render path work from
# there, with this checkout's ansible.cfg and .collections link out of the way.
# The ansible-core used is the first on PATH (make test-build runs this once
# per ansible-core version that meta/runtime.yml claims).
set -euo pipefail

dist_dir=${1:?usage: $0 DIST_DIR}
tarball=$(ls "$dist_dir"/remotedev-jupyter-*.tar.gz)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export ANSIBLE_CONFIG=$work/ansible.cfg
printf '[defaults]\ncollections_path = %s/collections\n' "$work" >"$ANSIBLE_CONFIG"
cd "$work"

core=$(ansible --version | sed -n '1s/.*core \([0-9.]*\).*/\1/p')
fail() { echo "test-build (ansible-core $core): FAIL: $*" >&2; exit 1; }

ansible-galaxy collection install --offline --no-deps -p "$work/collections" "$tarball" >/dev/null
installed=$work/collections/ansible_collections/remotedev/jupyter
[[ -f $installed/MANIFEST.json ]] || fail "tarball did not install into $installed"

# What must not ship: development-only trees.
for unwanted in .venv .venv-lint .collections .ansible-lint .yamllint .gitignore .ci tools tests extensions bench scripts mk \
    Makefile ansible.cfg requirements-dev.txt requirements-lint.txt changelogs/fragments; do
  [[ ! -e $installed/$unwanted ]] || fail "$unwanted is in the tarball"
done
# What must: the licence, the changelog Galaxy shows, what an execution environment reads.
for wanted in LICENSE README.md changelogs/changelog.yaml meta/runtime.yml meta/execution-environment.yml \
    requirements.txt bindep.txt docs/execution-environment.yml; do
  [[ -f $installed/$wanted ]] || fail "$wanted is not in the tarball"
done

for module in password_hash server_config server_info kernel_execute; do
  ansible-doc "remotedev.jupyter.$module" | grep -q "remotedev.jupyter.$module" ||
    fail "ansible-doc remotedev.jupyter.$module"
done
passed=4

out=$(ansible localhost -o -m remotedev.jupyter.password_hash \
  -a 'password=installed-check format=code_server' 2>&1) || fail "password_hash: $out"
[[ $out == *"\"hash\": \"\$argon2id\$"* ]] || fail "password_hash gave no argon2id hash: $out"
passed=$((passed + 1))

out=$(ansible localhost -o -m remotedev.jupyter.server_config \
  -a '{"settings": {"ServerApp": {"port": 8888}}}' 2>&1) || fail "server_config: $out"
[[ $out == *'c.ServerApp.port = 8888'* ]] || fail "server_config content: $out"
passed=$((passed + 1))

# Both deploy roles' render path (validation, server_config, the manifests), by
# FQCN, with values that reach the roles as templated strings.
cat >"$work/render.yml" <<'PLAYBOOK'
---
- name: Render both roles from the installed collection
  hosts: localhost
  gather_facts: false
  vars:
    base_port: 8000
  tasks:
    - name: Render the Jupyter Server
      ansible.builtin.include_role:
        name: remotedev.jupyter.jupyter_server
      vars:
        jupyter_server_image: registry.example.internal/remotedev/jupyter:1.0.0
        jupyter_server_port: "{{ base_port + 888 }}"
        jupyter_server_settings: {ServerApp: {terminals_enabled: false}}
        jupyter_server_render_only: true
        jupyter_server_render_dest: "{{ playbook_dir }}/jupyter_server.yaml"
    - name: Render code-server
      ansible.builtin.include_role:
        name: remotedev.jupyter.code_server
      vars:
        code_server_image: registry.example.internal/remotedev/code-server:1.0.0
        code_server_jupyter_name: ""
        code_server_render_only: true
        code_server_render_dest: "{{ playbook_dir }}/code_server.yaml"
PLAYBOOK
out=$(ansible-playbook -i localhost, -c local "$work/render.yml" 2>&1) || fail "render: $out"
grep -q 'c.ServerApp.port = 8888' "$work/jupyter_server.yaml" || fail "render: no ServerApp.port 8888 in the ConfigMap"
grep -q 'kind: Deployment' "$work/code_server.yaml" || fail "render: no code-server Deployment"
passed=$((passed + 1))

echo "test-build (ansible-core $core): $passed passed, 0 failed"
