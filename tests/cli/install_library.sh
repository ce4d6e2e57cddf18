#!/usr/bin/env bash
# Installed libmds (cmake/install.cmake, docs/library.md): `cmake --install`
# into a temporary prefix puts the tools, the library, the headers, the CMake
# package, mds.pc, the completion scripts and the man pages there; the
# example examples/score-rouge builds against it with find_package(mds) and
# with pkg-config, and its ROUGE means equal mds-eval's; the installed tools
# run from the prefix (their RPATH finds the installed library).
source "$(dirname "$0")/common.bash"
cd "$tmp"
[[ -n ${MDS_BINARY_DIR:-} ]] || fail "MDS_BINARY_DIR is not set (run through ctest)"
prefix=$tmp/prefix

cmake --install "$MDS_BINARY_DIR" --prefix "$prefix" >install.log || fail "cmake --install failed: $(tail install.log)"
libdir=$(find "$prefix" -name 'libmds.so*' -type f -printf '%h\n' | head -n 1)
[[ -n $libdir ]] || fail "no libmds.so installed"
for f in include/mds/metrics/rouge.h include/mds/io/container.h include/mds/io/safetensors.h \
  share/bash-completion/completions/mds-tokenize share/zsh/site-functions/_mds-eval share/man/man1/mds-train.1 \
  bin/mds-sample; do
  [[ -e $prefix/$f ]] || fail "$f is not installed"
done
[[ -e $libdir/cmake/mds/mdsConfig.cmake && -e $libdir/cmake/mds/mdsTargets.cmake ]] || fail "no CMake package"
[[ -e $libdir/pkgconfig/mds.pc ]] || fail "no mds.pc"
for tool in mds-tokenize mds-train mds-sample mds-eval mds-inspect; do
  env -u LD_LIBRARY_PATH "$prefix/bin/$tool" --version | grep -q "^$tool " || fail "installed $tool does not run"
done

# Reference: mds-eval's means on 20 QQP pairs, each source scored against its target.
head -n 20 "$MDS_SOURCE_DIR/examples/data/qqp_small.test.jsonl" | sed 's/"src"/"hyp"/' >pred.jsonl
mds-eval rouge --no-bootstrap <pred.jsonl >eval.json

# A libmds built with the sanitizers (MDS_SANITIZE=ON, scripts/test-sanitize.sh)
# needs their runtimes in the program that links it: the example is then built
# by the same compiler with the same -fsanitize flags.
cxx=c++ san=()
if grep -q '^MDS_SANITIZE:BOOL=ON' "$MDS_BINARY_DIR/CMakeCache.txt"; then
  cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$MDS_BINARY_DIR/CMakeCache.txt")
  san=(-fsanitize=address,undefined)
fi

# find_package(mds)
cmake -S "$MDS_SOURCE_DIR/examples/score-rouge" -B ex -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_EXE_LINKER_FLAGS="${san[*]}" >ex.log 2>&1 || fail "configuring the example failed: $(tail -n 20 ex.log)"
cmake --build ex >>ex.log 2>&1 || fail "building the example failed: $(tail -n 30 ex.log)"
run ex/score-rouge pred.jsonl
expect_rc 0
expect_out '"examples": 20'
cp "$tmp/out" cmake.json

# pkg-config, by hand as a Makefile would.
export PKG_CONFIG_PATH=$libdir/pkgconfig
pkg-config --exists mds || fail "pkg-config does not find mds: $(pkg-config --print-errors mds 2>&1)"
[[ $(pkg-config --modversion mds) == "$(mds-eval --version | head -n 1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)" ]] ||
  fail "mds.pc version $(pkg-config --modversion mds) is not the tools' version"
# shellcheck disable=SC2046
"$cxx" -O1 "${san[@]}" -o score-rouge-pc "$MDS_SOURCE_DIR/examples/score-rouge/score_rouge.cpp" $(pkg-config --cflags --libs mds) \
  2>pc.log || fail "building with pkg-config failed: $(tail -n 20 pc.log)"
LD_LIBRARY_PATH=$libdir ./score-rouge-pc pred.jsonl >pc.json || fail "the pkg-config build failed to run"
cmp -s cmake.json pc.json || fail "the two builds differ: $(cat cmake.json) vs $(cat pc.json)"

# The means equal mds-eval's, to the last bit (both print round-trip digits).
for t in rouge1 rouge2 rougeL rougeLsum; do
  ours=$(grep -oE "\"$t\": [0-9.e-]+" cmake.json | grep -oE '[0-9.e-]+$') || fail "score-rouge printed no $t"
  theirs=$(grep -oE "\"$t\":\{[^}]*\"fmeasure\":[0-9.e-]+" eval.json | grep -oE '[0-9.e-]+$') ||
    fail "mds-eval printed no $t mean: $(head -c 600 eval.json)"
  awk -v a="$ours" -v b="$theirs" 'BEGIN { exit !(a + 0 == b + 0) }' || fail "$t: score-rouge $ours, mds-eval $theirs"
done

# A bad record is reported with the file and line, exit 3.
echo '{"hyp": 1, "trg": "x"}' >bad.jsonl
run ex/score-rouge bad.jsonl
expect_rc 3
expect_err "bad.jsonl:1"
