#!/usr/bin/env bash
# docs/config.md is generated from the config schemas: fails when the page and
# the schemas differ (a field added, a default or a range changed without
# regenerating it with `build/config_reference > docs/config.md`).
source "$(dirname "$0")/common.bash"

config_reference >"$tmp/config.md" || fail "config_reference exited $?"
diff -u "$MDS_SOURCE_DIR/docs/config.md" "$tmp/config.md" >"$tmp/diff" ||
  fail "docs/config.md differs from the schemas; regenerate it with build/config_reference > docs/config.md:
$(head -n 40 "$tmp/diff")"
# Every field of both schemas has its row (the generator places each one).
for key in vocab_size attention_dilation moe_top_k loss_region steps lr_schedule seed checkpoint_every; do
  grep -q "^| \`$key\` |" "$MDS_SOURCE_DIR/docs/config.md" || fail "docs/config.md has no row for $key"
done
echo "config_reference: ok"
