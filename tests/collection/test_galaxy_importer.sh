#!/usr/bin/env bash
# galaxy-importer, the import check of Galaxy and Automation Hub, on the built
# tarball: metadata, documentation (ansible-doc of every plugin), changelog,
# required tags, ansible-lint (production profile) and flake8. Passes only when
# the import succeeds with 0 errors and 0 warnings. ansible-test is off
# (galaxy-importer.cfg): the importer would run it in a container.
#
#   tests/collection/test_galaxy_importer.sh DIST_DIR IMPORTER_VENV
set -euo pipefail

dist_dir=${1:?usage: $0 DIST_DIR IMPORTER_VENV}
venv=${2:?usage: $0 DIST_DIR IMPORTER_VENV}
here=$(cd "$(dirname "$0")" && pwd)
tarball=$(ls "$dist_dir"/remotedev-jupyter-*.tar.gz)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "test-importer: FAIL: $*" >&2; exit 1; }

# The importer finds ansible-doc, ansible-lint and flake8 on PATH: its own,
# never the controller's. It writes importer_result.json into its working
# directory and ansible-lint's caches below ansible_local_tmp.
rc=0
(cd "$work" && env PATH="$venv/bin:$PATH" \
  GALAXY_IMPORTER_CONFIG="$here/galaxy-importer.cfg" \
  GALAXY_IMPORTER_TMP_ROOT_DIR="$work" \
  GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP="$work/ansible-tmp" \
  "$venv/bin/python" -m galaxy_importer.main "$tarball") >"$work/importer.log" 2>&1 || rc=$?

problems=$(grep -E '^(WARNING|ERROR|CRITICAL):' "$work/importer.log" || true)
warnings=$(grep -c '^WARNING:' "$work/importer.log" || true)
errors=$(grep -cE '^(ERROR|CRITICAL):' "$work/importer.log" || true)
if ((rc != 0)) || [[ -n $problems ]] || ! grep -q '^Importer processing completed successfully' "$work/importer.log"; then
  tail -n 40 "$work/importer.log" >&2
  fail "galaxy-importer: exit $rc, $errors errors, $warnings warnings${problems:+:
$problems}"
fi
# It did check what it is here for (a silent skip would also give 0 warnings).
for step in 'Linting collection via ansible-lint' '...ansible-lint run complete' 'via flake8...' \
    'Getting doc strings via ansible-doc' 'Loading role image'; do
  grep -qF -- "$step" "$work/importer.log" || fail "the importer log lacks '$step'"
done
! grep -qi 'ansible-test' "$work/importer.log" || fail "the importer ran ansible-test"
python3 - "$work/importer_result.json" <<'PY' || fail "importer_result.json"
import json, sys
result = json.load(open(sys.argv[1]))
docs = {(c["content_type"], c["content_name"]): c for c in result["docs_blob"]["contents"]}
modules = {"build_context", "instance", "kernel_execute", "password_hash", "server_config", "server_info"}
undocumented = sorted(m for m in modules if not (docs.get(("module", m)) or {}).get("doc_strings"))
roles = {"code_server", "image", "jupyter_server"} - {name for kind, name in docs if kind == "role"}
if undocumented or roles:
    sys.exit("no documentation for the modules %s, no roles %s" % (undocumented, sorted(roles)))
if not result["docs_blob"]["collection_readme"]["html"] or not result["docs_blob"]["documentation_files"]:
    sys.exit("no README or docs/ files on the collection's page")
if not result["metadata"]["version"].startswith("1."):
    sys.exit("version %s" % result["metadata"]["version"])
PY
echo "test-importer: galaxy-importer $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("galaxy-importer"))'): 0 errors, 0 warnings"
