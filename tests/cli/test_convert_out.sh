#!/usr/bin/env bash
# test_convert_out.sh GLINER SRC -- `gliner convert IN OUT` writes OUT as host/io/model_dir.h's MdOut does (issue 11,
# item 1): a temporary sibling created exclusively (a link planted at its guessable name is skipped, never followed),
# OUT never replaced when it is anything but a new name (a FIFO, a dangling link), orphans of killed runs removed,
# and a write error (a full disk: ulimit -f) reported in one line naming the file, with nothing left behind.
set -u
GLINER=$1 SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
M=$SRC/tests/fixtures/models/uni_span_bert_markerV0
temps() { ls -A "$TMP" | grep -E '\.tmp\.|\.old\.' ; }

# 1. links planted at the temporary's names (the one it had, OUT.tmp.<pid>, and the one it has,
#    .OUT.tmp.<pid>.0): the subshell's pid is the converter's, since exec keeps it
mkdir "$TMP/victim"
( ln -s "$TMP/victim" "$TMP/out.tmp.$BASHPID"
  ln -s "$TMP/victim" "$TMP/.out.tmp.$BASHPID.0"
  exec "$GLINER" convert "$M" "$TMP/out" ) >"$TMP/c1.out" 2>"$TMP/c1.err" || { cat "$TMP/c1.err"; fail "convert beside planted links"; }
[ -z "$(ls -A "$TMP/victim")" ] || fail "something was written through a planted link: $(ls -A "$TMP/victim")"
n=$(find "$TMP" -maxdepth 1 -type l | wc -l)
[ "$n" = 2 ] || fail "the planted links were removed or moved ($n left)"
[ -f "$TMP/out/model.safetensors" ] && [ -f "$TMP/out/gliner_config.json" ] && [ -f "$TMP/out/tokenizer.json" ] \
  || fail "the converted directory is incomplete: $(ls -A "$TMP/out")"
"$GLINER" info "$TMP/out" >/dev/null 2>&1 || fail "gliner info on the converted directory"
find "$TMP" -maxdepth 1 -type l -delete
echo "ok: links planted at the temporary's names are not followed"

# 2. OUT that is not a new name: a FIFO, a dangling link, a file -- an error naming it, and it stays as it was
mkfifo "$TMP/fifo"
ln -s "$TMP/nowhere" "$TMP/dangling"
echo mine >"$TMP/file"
for o in fifo dangling file; do
  rc=0
  timeout 60 "$GLINER" convert "$M" "$TMP/$o" >/dev/null 2>"$TMP/c2.err" || rc=$?
  [ "$rc" = 1 ] || fail "$o: exit $rc, expected 1"
  [ "$(wc -l <"$TMP/c2.err")" = 1 ] || fail "$o: the error is not one line: $(cat "$TMP/c2.err")"
  grep -q "$TMP/$o: already exists" "$TMP/c2.err" || fail "$o: $(cat "$TMP/c2.err")"
done
[ -p "$TMP/fifo" ] || fail "the FIFO was replaced"
[ -L "$TMP/dangling" ] && [ ! -e "$TMP/nowhere" ] || fail "the dangling link was replaced or followed"
[ "$(cat "$TMP/file")" = mine ] || fail "the file was replaced"
[ -z "$(temps)" ] || fail "temporaries left: $(temps)"
echo "ok: a FIFO, a dangling link or a file at OUT is refused and kept"

# 3. an orphaned temporary of a killed run (its pid no longer runs) is removed by the next convert to the same OUT;
#    one of a running process is kept
sh -c 'exit 0' &
dead=$!
wait $dead
mkdir -p "$TMP/.out2.tmp.$dead.0" "$TMP/.out2.tmp.$$.0"
echo half >"$TMP/.out2.tmp.$dead.0/model.safetensors"
"$GLINER" convert "$M" "$TMP/out2" >/dev/null 2>"$TMP/c3.err" || { cat "$TMP/c3.err"; fail "convert next to an orphan"; }
[ -e "$TMP/.out2.tmp.$dead.0" ] && fail "the orphan of a dead process is still there"
[ -d "$TMP/.out2.tmp.$$.0" ] || fail "the temporary of a running process was removed"
rmdir "$TMP/.out2.tmp.$$.0"
echo "ok: orphans of dead runs are removed"

# 4. a full disk (files limited to 64 KiB; the weights are larger): one line naming the file, no OUT, no temporary
rc=0
( trap '' XFSZ; ulimit -f 64; exec "$GLINER" convert "$M" "$TMP/out3" ) >/dev/null 2>"$TMP/c4.err" || rc=$?
[ "$rc" = 1 ] || { cat "$TMP/c4.err"; fail "a write error: exit $rc, expected 1"; }
[ "$(wc -l <"$TMP/c4.err")" = 1 ] || fail "the write error is not one line: $(cat "$TMP/c4.err")"
grep -q "model.safetensors: .*File too large" "$TMP/c4.err" || fail "the write error: $(cat "$TMP/c4.err")"
[ -e "$TMP/out3" ] && fail "a failed convert left $TMP/out3"
[ -z "$(temps)" ] || fail "temporaries left: $(temps)"
echo "ok: write errors are reported"
echo PASS
