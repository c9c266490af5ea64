#!/usr/bin/env bash
# The execution-environment definition of the built collection: ansible-builder
# finds its Python and system requirements in the installed tarball (through
# meta/execution-environment.yml), and turns docs/execution-environment.yml
# into a build context. Nothing is built: that needs the base image.
set -euo pipefail

dist_dir=${1:?usage: $0 DIST_DIR ANSIBLE_BUILDER}
builder=${2:?usage: $0 DIST_DIR ANSIBLE_BUILDER}
tarball=$(ls "$dist_dir"/remotedev-jupyter-*.tar.gz)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "test-ee: FAIL: $*" >&2; exit 1; }

export ANSIBLE_CONFIG=$work/ansible.cfg
printf '[defaults]\ncollections_path = %s/collections\n' "$work" >"$ANSIBLE_CONFIG"
ansible-galaxy collection install --offline --no-deps -p "$work/collections" "$tarball" >/dev/null
installed=$work/collections/ansible_collections/remotedev/jupyter

# What ansible-builder's introspection finds in the installed collection.
found=$("$builder" introspect --sanitize "$work/collections") || fail "ansible-builder introspect: $found"
for wanted in "argon2-cffi>=23.1.0" "websocket-client>=1.7.0" "requests" "podman" "python3-pip" "npm"; do
  grep -qF -- "- '$wanted" <<<"$found" || fail "introspect does not list $wanted: $found"
done
# Only what the collection's own files declare: no controller or test stack.
for unwanted in ansible-core kubernetes docker openshift; do
  ! grep -qE -- "^- '${unwanted}[ ><=]" <<<"$found" || fail "introspect lists $unwanted: $found"
done
passed=1

# The example definition users start from becomes a complete build context.
(cd "$work" && "$builder" create -f "$installed/docs/execution-environment.yml" --context "$work/context" >/dev/null) ||
  fail "ansible-builder create -f docs/execution-environment.yml"
[[ -f $work/context/Containerfile ]] || fail "no Containerfile in the context"
grep -q 'ansible-galaxy collection install' "$work/context/Containerfile" || fail "the Containerfile installs no collection"
grep -q 'name: remotedev.jupyter' "$work/context/_build/requirements.yml" || fail "_build/requirements.yml lacks remotedev.jupyter"
grep -q 'introspect' "$work/context/Containerfile" || fail "the Containerfile does not introspect the collections"
passed=$((passed + 1))

echo "test-ee: $passed passed, 0 failed"
