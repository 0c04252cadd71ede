#!/usr/bin/env bash
# Installs the npm packages named in modules.txt into a cache directory outside the
# repository (no third-party binary is committed) and checks that every listed file
# is there. Prints the directory; tests find it the same way:
#   BARQ_REALWORLD_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/barq/realworld
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${BARQ_REALWORLD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/barq/realworld}
mkdir -p "$dir"
packages=$(grep -v '^#' "$here/modules.txt" | awk 'NF {print $1}' | sort -u)
missing=0
while read -r spec file _; do
  [[ -z "$spec" || "$spec" == \#* ]] && continue
  [ -f "$dir/node_modules/${spec%@*}/$file" ] || missing=1
done < "$here/modules.txt"
if [ "$missing" = 1 ]; then
  [ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
  # --ignore-scripts: we only want the files, never to run install hooks.
  (cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error $packages)
fi
while read -r spec file _; do
  [[ -z "$spec" || "$spec" == \#* ]] && continue
  path="$dir/node_modules/${spec%@*}/$file"
  [ -f "$path" ] || { echo "fetch.sh: missing $path" >&2; exit 1; }
done < "$here/modules.txt"
echo "$dir"
