#!/usr/bin/env bash
# Installs the Debian packages the tests, the local cluster and the demo need.
# Idempotent and quick when everything is present: apt is only touched when a
# package is missing.
set -euo pipefail

packages=(
  # image builds (both builders) and the base image
  podman buildah runc skopeo docker.io debootstrap uidmap
  # local cluster: runtime, networking, registry
  containerd containernetworking-plugins docker-registry iptables conntrack socat ethtool
  # code-server's native modules (node-gyp) and the browser tests
  libkrb5-dev build-essential chromium chromium-driver
  # tools the scripts and ansible-test use
  jq openssl iproute2 rsync git curl ca-certificates shellcheck locales
  # pip for the Python of the pip-flavor images (wheels are chosen by it)
  python3-pip python3-venv
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

# ansible-test runs its sanity tests under en_US.UTF-8.
needs_locale=false
if ! locale -a 2>/dev/null | grep -qix 'en_US.utf8'; then
  needs_locale=true
fi

if ((${#missing[@]} == 0)) && ! $needs_locale; then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-system-deps: missing: ${missing[*]:-} ${needs_locale/true/en_US.UTF-8 locale}" >&2
  echo "install-system-deps: run this script as root (or with sudo) to install them" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ((${#missing[@]} > 0)); then
  echo "install-system-deps: installing ${missing[*]}"
  apt-get update -qq
  # Services that packages would start (dockerd, containerd, the registry) are
  # started by the project's own scripts with its own configuration instead.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if $needs_locale || ! locale -a 2>/dev/null | grep -qix 'en_US.utf8'; then
  echo "install-system-deps: generating the en_US.UTF-8 locale"
  sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
  locale-gen >/dev/null
fi
