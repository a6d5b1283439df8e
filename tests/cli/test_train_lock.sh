#!/usr/bin/env bash
# test_train_lock.sh GLINER SRC -- one `gliner train` per output directory (issue 11, item 8): while a run holds
# OUTDIR/.gliner-train.lock (flock), a second run on the same directory refuses at once with one line naming the
# directory and the holder's pid, exit 1, and writes nothing (no log line, no checkpoint). The lock goes with the
# process, however it ends: after kill -9 the next run proceeds. Also: a write to train.log or train_log.jsonl that
# fails (a full disk: ulimit -f) stops the run with one line naming the file and exit 1, never a silent exit 0.
set -u
GLINER=$1 SRC=$2
TMP=$(mktemp -d)
FIRST=""
trap '[ -n "$FIRST" ] && kill -9 "$FIRST" 2>/dev/null; rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
M=$SRC/tests/fixtures/models/uni_span_bert_markerV0

cat >"$TMP/train.json" <<'J'
[{"tokenized_text": ["Barack", "Obama", "visited", "Paris", "in", "June", "."], "ner": [[0, 1, "person"], [3, 3, "location"], [5, 5, "date"]]},
 {"tokenized_text": ["Apple", "hired", "Tim", "Cook", "."], "ner": [[0, 0, "organization"], [2, 3, "person"]]},
 {"tokenized_text": ["Tokyo", "and", "Osaka", "are", "in", "Japan", "."], "ner": [[0, 0, "location"], [2, 2, "location"], [5, 5, "country"]]}]
J
cat >"$TMP/c.yaml" <<Y
model:
  name: "test"
data:
  root_dir: $TMP/unused
  train_data: "$TMP/train.json"
  val_data_dir: "none"
training:
  prev_path: null
  num_steps: 4
  train_batch_size: 2
  eval_every: 2
  scheduler_type: "linear"
  lr_encoder: 1e-4
  lr_others: 5e-4
  save_total_limit: 3
  seed: 7
Y
OUT=$TMP/out
RUN="$GLINER train $TMP/c.yaml --model $M --threads 1 --output $OUT"

# the first run: many steps, silent (no progress line, no checkpoint before we kill it)
$RUN --steps 100000000 --log-every 100000000 --eval-every 100000000 >"$TMP/first.log" 2>&1 &
FIRST=$!
for _ in $(seq 300); do  # at most 30 s: the lock is taken before train.log is written
  grep -q "^training " "$OUT/train.log" 2>/dev/null && break
  kill -0 "$FIRST" 2>/dev/null || { cat "$TMP/first.log"; fail "the first run ended early"; }
  sleep 0.1
done
grep -q "^training " "$OUT/train.log" 2>/dev/null || fail "the first run did not start"
[ "$(cat "$OUT/.gliner-train.lock")" = "$FIRST" ] || fail "the lock file does not hold the holder's pid: $(cat "$OUT/.gliner-train.lock")"
cp "$OUT/train.log" "$TMP/train.log.before"
cp "$OUT/train_log.jsonl" "$TMP/jsonl.before" 2>/dev/null || : >"$TMP/jsonl.before"

# the second: refused at once; it would log every step and save a checkpoint at step 2 if it ran
rc=0
timeout 60 $RUN --steps 2 --log-every 1 >"$TMP/second.out" 2>"$TMP/second.err" || rc=$?
[ "$rc" = 1 ] || { cat "$TMP/second.err"; fail "the second run exited $rc, expected 1"; }
[ "$(wc -l <"$TMP/second.err")" = 1 ] || fail "the refusal is not one line: $(cat "$TMP/second.err")"
grep -q "^gliner train: $OUT: in use by another gliner train (pid $FIRST)" "$TMP/second.err" \
  || fail "the refusal does not name the directory and the holder's pid: $(cat "$TMP/second.err")"
kill -0 "$FIRST" 2>/dev/null || fail "the first run ended during the test"
cmp -s "$OUT/train_log.jsonl" "$TMP/jsonl.before" || fail "train_log.jsonl got lines from the second run"
cmp -s "$OUT/train.log" "$TMP/train.log.before" || fail "train.log got lines from the second run"
ls "$OUT" | grep -q checkpoint && fail "a checkpoint was written: $(ls -a "$OUT")"
[ "$(cat "$OUT/.gliner-train.lock")" = "$FIRST" ] || fail "the second run overwrote the lock file"
echo "ok: a second run on a locked directory is refused and writes nothing"

# kill -9: the kernel drops the lock; the next run proceeds (the stale pid in the file is harmless)
kill -9 "$FIRST"
wait "$FIRST" 2>/dev/null
FIRST=""
$RUN --steps 2 --log-every 1 >"$TMP/third.log" 2>&1 || { cat "$TMP/third.log"; fail "a run after the holder was killed"; }
[ -d "$OUT/checkpoint-2" ] || fail "the run after the kill saved no checkpoint"
[ "$(grep -c '"step": ' "$OUT/train_log.jsonl")" -ge 2 ] || fail "the run after the kill logged nothing"
echo "ok: the lock is released by kill -9"

# (stderr goes through a pipe: a file would be cut at the same limit)
( trap '' XFSZ; ulimit -f 1; exec $GLINER train "$TMP/c.yaml" --model "$M" --threads 1 --output "$TMP/full" --steps 50 \
    --log-every 1 --no-save 2>&1 >/dev/null ) | cat >"$TMP/full.err"
rc=${PIPESTATUS[0]}
[ "$rc" = 1 ] || fail "a failed log write: exit $rc, expected 1"
grep -q "^gliner train: $TMP/full/train[_a-z]*\.[a-z]*: write failed: File too large$" "$TMP/full.err" \
  || fail "a failed log write: $(tail -2 "$TMP/full.err")"
echo "ok: a failed log write stops the run naming the file"
echo PASS
