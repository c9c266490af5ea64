#!/usr/bin/env bash
# Makes Debian's podman/buildah usable on this kind of host and lets every
# builder and runtime here use the local plain-HTTP registry.
#  - runc, not crun: crun fails on hybrid (v1) cgroups.
#  - explicit ulimits: the default asks for rlimits above what the host allows,
#    and raising rlimits is not permitted.
set -euo pipefail

REGISTRY=${REMOTEDEV_REGISTRY:-127.0.0.1:5000}

if [[ $(id -u) -ne 0 ]]; then
  echo "configure-containers: needs root to write /etc/containers" >&2
  exit 1
fi

write_if_changed() {
  local path=$1 content=$2
  if [[ ! -f $path ]] || [[ "$(cat "$path")" != "$content" ]]; then
    mkdir -p "$(dirname "$path")"
    printf '%s\n' "$content" > "$path"
    echo "configure-containers: wrote $path"
  fi
}

write_if_changed /etc/containers/containers.conf.d/10-remotedev-runtime.conf '# Written by remotedev.jupyter scripts/configure-containers.sh
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=8192:8192"]

[engine]
runtime = "runc"'

write_if_changed /etc/containers/registries.conf.d/50-remotedev-local.conf "# Written by remotedev.jupyter scripts/configure-containers.sh
[[registry]]
location = \"$REGISTRY\"
insecure = true"
