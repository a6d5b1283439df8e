#!/usr/bin/env bash
# test_readme_example.sh GLINER SRC -- the C API example in README.md (the ```c block after
# "<!-- readme-example: c") compiles against libgliner and finds entities with a fixture model.
# CTest passes the program CMake built from the README in GLINER_README_EXAMPLE (tests/CMakeLists.txt);
# run by hand, the block is extracted and compiled here with cc against the build's libgliner.a.
set -u
GLINER=$1 SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

awk '/<!-- readme-example: c/ {m=1; next} m==1 && /^```c$/ {m=2; next} m==2 && /^```$/ {exit} m==2 {print}' \
  "$SRC/README.md" >"$TMP/example.c"
[ -s "$TMP/example.c" ] || fail "README.md has no \`\`\`c block after <!-- readme-example: c -->"
grep -q "gliner_load" "$TMP/example.c" && grep -q "gliner_free" "$TMP/example.c" || fail "the README example does not load and free a model"

EXE=${GLINER_README_EXAMPLE:-}
if [ -n "$EXE" ]; then
  # the program CMake built must be the README's current block
  cmp -s "$(dirname "$EXE")/readme_example.c" "$TMP/example.c" || fail "$EXE was built from an older README.md: rebuild"
else
  BUILD=$(dirname "$GLINER")
  [ -f "$BUILD/libgliner.a" ] || fail "no $BUILD/libgliner.a"
  LIBS="$(pkg-config --libs libcjson yaml-0.1 openblas libutf8proc libzip) -lm -fopenmp"
  pkg-config --exists libcurl && LIBS="$LIBS $(pkg-config --libs libcurl)"
  cc -std=c11 -Wall -Wextra -Werror -I"$SRC/host" "$TMP/example.c" "$BUILD/libgliner.a" $LIBS -o "$TMP/example" 2>"$TMP/cc.err" \
    || fail "the README example does not compile: $(cat "$TMP/cc.err")"
  EXE=$TMP/example
fi

M=$SRC/tests/fixtures/models/uni_span_deberta_markerV0
# a text on which the tiny random fixture model scores one span above 0.5
TEXT="Dr. John Smith-Jones visited unbelievably crowded Berlin, yesterday!"
timeout 120 "$EXE" "$M" "$TEXT" >"$TMP/out" 2>"$TMP/err" || fail "the example exited $?: $(cat "$TMP/err")"
grep -qP '^(person|location)\t.+\t[01]\.[0-9]{3}\t\[[0-9]+, [0-9]+\)$' "$TMP/out" || fail "no entity line in: $(cat "$TMP/out")"
timeout 60 "$EXE" >/dev/null 2>&1; [ $? -eq 2 ] || fail "the example without arguments should exit 2"
timeout 60 "$EXE" /nonexistent/model >/dev/null 2>"$TMP/err"; [ $? -eq 1 ] || fail "a missing model should exit 1"
grep -q "/nonexistent/model" "$TMP/err" || fail "the error does not name the model: $(cat "$TMP/err")"
echo PASS
