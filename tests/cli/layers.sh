#!/usr/bin/env bash
# The include layering of docs/design.md §2 holds (scripts/check-layers.sh),
# and the check does catch a forbidden edge: a copy of the tree where
# lib/core includes lib/model must fail, naming the file and the edge.
source "$(dirname "$0")/common.bash"
bash "$MDS_SOURCE_DIR/scripts/check-layers.sh" || fail "check-layers.sh exited $?"

mkdir -p "$tmp/root/lib/core" "$tmp/root/lib/model" "$tmp/root/kernels" "$tmp/root/cmd" "$tmp/root/docs"
cp "$MDS_SOURCE_DIR/docs/design.md" "$tmp/root/docs/"
printf '#include "model/network.h"\n' > "$tmp/root/lib/core/leak.h"
printf '#include "core/error.h"\n' > "$tmp/root/lib/model/fine.h"
expect 1 "lib/core/leak.h:1: core -> model" bash "$MDS_SOURCE_DIR/scripts/check-layers.sh" "$tmp/root"

mkdir -p "$tmp/root/lib/newfolder"
rm "$tmp/root/lib/core/leak.h"
expect 1 "folder newfolder has no line" bash "$MDS_SOURCE_DIR/scripts/check-layers.sh" "$tmp/root"
echo "layers: ok"
