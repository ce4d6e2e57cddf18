#!/usr/bin/env bash
# Fails when a folder of lib/ (or kernels/, cmd/) includes a folder it must
# not: the allowed edges are the ```layers block of docs/design.md (§2), read
# here, so they are written once. Prints every offending include as
# FILE:LINE: FOLDER -> FOLDER.
# Usage: scripts/check-layers.sh [ROOT]   (default: the repository of this script)
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
doc="$root/docs/design.md"
[[ -r $doc ]] || { echo "check-layers: cannot read $doc" >&2; exit 2; }
declare -A allowed
in_block=0
while IFS= read -r line; do
  if [[ $line == '```layers' ]]; then in_block=1; continue; fi
  if ((in_block)) && [[ $line == '```' ]]; then break; fi
  ((in_block)) || continue
  folder=${line%%:*}
  allowed[$folder]=" ${line#*:} "
done < "$doc"
((${#allowed[@]})) || { echo "check-layers: no \`\`\`layers block in $doc" >&2; exit 2; }

bad=0
checked=0
for dir in "$root"/lib/*/ "$root/kernels/" "$root/cmd/"; do
  folder=$(basename "$dir")
  if [[ -z ${allowed[$folder]+set} ]]; then
    echo "check-layers: folder $folder has no line in the layers block of docs/design.md" >&2
    bad=1
    continue
  fi
  while IFS=: read -r file lineno dep; do
    checked=$((checked + 1))
    [[ $dep == "$folder" ]] && continue
    if [[ ${allowed[$folder]} != *" $dep "* ]]; then
      echo "${file#"$root"/}:$lineno: $folder -> $dep (not allowed by docs/design.md §2)" >&2
      bad=1
    fi
  done < <(grep -rnoE '^#include "[a-z_]+/' "$dir" --include='*.h' --include='*.cpp' --include='*.cu' --include='*.cuh' |
           sed -E 's|^([^:]+):([0-9]+):#include "([a-z_]+)/|\1:\2:\3|')
done
if ((bad)); then exit 1; fi
echo "check-layers: $checked includes across ${#allowed[@]} folders follow docs/design.md §2"
