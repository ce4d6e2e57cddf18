#!/usr/bin/env bash
# Shell completion (cmd/completion.h): for each of the five tools and each
# subcommand, every flag that --help lists is in the bash and the zsh script
# (both generated from the same CLI11 definitions); the bash script parses
# and completes flags, subcommands, value choices and files; the zsh script
# parses when zsh is installed; the build wrote the same scripts that
# `--completion` prints (the ones `cmake --install` installs).
source "$(dirname "$0")/common.bash"
cd "$tmp"

declare -A subs=([mds-tokenize]="train encode decode" [mds-eval]="rouge bleu diffuseq")
for tool in mds-tokenize mds-train mds-sample mds-eval mds-inspect; do
  "$tool" --completion bash >"$tool.bash" || fail "$tool --completion bash exited $?"
  "$tool" --completion zsh >"$tool.zsh" || fail "$tool --completion zsh exited $?"
  bash -n "$tool.bash" || fail "$tool: the bash script does not parse"
  if command -v zsh >/dev/null; then zsh -n "$tool.zsh" || fail "$tool: the zsh script does not parse"; fi
  grep -q "^#compdef $tool\$" "$tool.zsh" || fail "$tool: the zsh script lacks #compdef"
  for sub in "" ${subs[$tool]:-}; do
    # shellcheck disable=SC2086
    "$tool" $sub --help >help.txt || fail "$tool $sub --help exited $?"
    n=0
    # The flags an option line defines ("  -o,--output TEXT ..."), not those its description mentions.
    for flag in $(grep -oE -- '^ +-[-a-zA-Z0-9,]+' help.txt | tr -d ' ' | tr ',' '\n' | grep -oE -- '^--?[a-zA-Z][a-zA-Z0-9-]*$' | sort -u); do
      grep -qE -- "(^|[ \"|'])$flag([ \"|)\[]|\$)" "$tool.bash" || fail "$tool $sub: $flag of --help is not in the bash script"
      grep -qE -- "'\*?$flag\[" "$tool.zsh" || fail "$tool $sub: $flag of --help is not in the zsh script"
      n=$((n + 1))
    done
    ((n >= 2)) || fail "$tool $sub: only $n flags found in --help"
    [[ -z $sub ]] || grep -q "'$sub:" "$tool.zsh" || fail "$tool: subcommand $sub is not in the zsh script"
  done
  [[ -z ${MDS_BINARY_DIR:-} ]] || {
    cmp -s "$tool.bash" "$MDS_BINARY_DIR/completion/bash/$tool" || fail "$tool: the build's bash script is stale"
    cmp -s "$tool.zsh" "$MDS_BINARY_DIR/completion/zsh/_$tool" || fail "$tool: the build's zsh script is stale"
  }
done
expect 2 "--completion: expected bash or zsh, found fish" mds-eval --completion fish

# Completing in bash: COMP_WORDS as bash sets them, the reply in COMPREPLY.
complete_words() {  # complete_words TOOL WORD... : completes the last word
  local tool=$1
  shift
  COMP_WORDS=("$tool" "$@")
  COMP_CWORD=$#
  COMPREPLY=()
  "_${tool//-/_}"
  printf '%s\n' "${COMPREPLY[@]}"
}
for tool in mds-tokenize mds-inspect mds-sample; do source "$tool.bash"; done
touch model.mds
[[ $(complete_words mds-inspect --export-d) == "--export-dtype" ]] || fail "--export-d did not complete to --export-dtype"
[[ $(complete_words mds-inspect x.mds --export-dtype "" | tr '\n' ' ') == "bf16 f32 " ]] ||
  fail "--export-dtype did not offer bf16 f32"
complete_words mds-inspect mod | grep -qx model.mds || fail "a file argument did not complete to model.mds"
[[ $(complete_words mds-tokenize en) == "encode" ]] || fail "'en' did not complete to the subcommand encode"
complete_words mds-tokenize train --voc | grep -qx -- --vocab-size || fail "train --voc did not complete"
complete_words mds-tokenize encode --voc | grep -q . && fail "encode offered train's --vocab-size"
[[ -z $(complete_words mds-tokenize train --vocab-size "") ]] || fail "a number flag offered words"
complete_words mds-sample --solver "" | grep -qx dpm++ || fail "--solver did not offer dpm++"
true
