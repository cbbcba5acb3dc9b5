#!/usr/bin/env bash
# Print a JAVA_HOME whose java is 17 or 21 (what Spark 4 supports), or fail saying so.
set -euo pipefail
major() { "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
cands=()
[ -n "${JAVA_HOME:-}" ] && cands+=("$JAVA_HOME")
if command -v java >/dev/null 2>&1; then cands+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"); fi
for d in /usr/lib/jvm/*; do [ -x "$d/bin/java" ] && cands+=("$d"); done
for d in "${cands[@]}"; do
  case "$(major "$d")" in 17|21) echo "$d"; exit 0;; esac
done
echo "no Java 17 or 21 found (Spark 4 needs one): apt-get install openjdk-17-jdk-headless" >&2
exit 1
