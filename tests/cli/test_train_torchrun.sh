#!/usr/bin/env bash
# test_train_torchrun.sh GLINER SRC -- data-parallel training launched as torchrun launches it (RANK, WORLD_SIZE,
# LOCAL_RANK, MASTER_ADDR, MASTER_PORT; no MPI runtime): the tcp communicator (host/comm_tcp.c). The data and the
# comparisons are test_train_mpi.sh's:
#   1. 2 ranks on a file with every batch twice train exactly as one process on the file without the copies (the
#      same losses, byte-identical model and optimizer state);
#   2. 2 ranks on distinct records write the same bytes as mpirun -np 2 (skipped, visibly, without MPI), as torchrun
#      itself (skipped, visibly, where it is not installed; GLINER_TORCHRUN names one not on PATH), and ZeRO-1 the
#      same bytes again; bf16 sums in small buckets, plain and ZeRO-1, the same bytes as each other;
#   3. resume: stopped at step 3 and resumed equals uninterrupted; a 2-rank checkpoint refused in one process names
#      torchrun in its hint;
#   4. faults: a rank that exits ends the other at once (not at training.collective_timeout_s) with one line naming
#      it; a rank that hangs ends the other at the timeout, naming the rank and the collective (torchrun then ends the
#      hung one; here, the test does).
set -u
GLINER=$1 SRC=$2
TMP=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
M=$SRC/tests/fixtures/models/uni_span_bert_markerV0

python3 - "$TMP" <<'PY' || { echo "SKIP: no python3"; exit 77; }
import json, sys
t = sys.argv[1]
recs = [{"tokenized_text": ["Barack", "Obama", "visited", "Paris", "in", "June", "."], "ner": [[0, 1, "person"], [3, 3, "location"], [5, 5, "date"]]},
        {"tokenized_text": ["Apple", "hired", "Tim", "Cook", "."], "ner": [[0, 0, "organization"], [2, 3, "person"]]},
        {"tokenized_text": ["The", "Rhine", "flows", "through", "Basel", "and", "Cologne", "."], "ner": [[1, 1, "river"], [4, 4, "location"], [6, 6, "location"]]},
        {"tokenized_text": ["Marie", "Curie", "won", "the", "Nobel", "Prize", "in", "1903", "."], "ner": [[0, 1, "person"], [4, 5, "award"], [7, 7, "date"]]}]
json.dump(recs, open(f"{t}/one.json", "w"))
json.dump([r for b in range(0, 4, 2) for _ in range(2) for r in recs[b:b + 2]], open(f"{t}/pairs.json", "w"))
PY
Y=$SRC/configs/tiny/uni_encoder_span.yaml
ARGS="--model $M --steps 6 --log-every 1 --no-shuffle --threads 1"

# launch NAME [VAR=VALUE ...] -- TRAIN_ARGS ...: `gliner train TRAIN_ARGS` as 2 torchrun-style ranks in the background,
# on a free port; PIDS, each rank's output in TMP/NAME.R.log
launch() {
  local name=$1 envs=()
  shift
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  T0=$(date +%s)
  PIDS=()
  for r in 0 1; do
    env "${envs[@]}" RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT \
      timeout 300 "$GLINER" train "$@" >"$TMP/$name.$r.log" 2>&1 &
    PIDS[r]=$!
  done
}
# collect: waits for both ranks; RC "rc0 rc1", EL the seconds since the launch
collect() {
  local rcs=()
  for r in "${!PIDS[@]}"; do
    wait "${PIDS[r]}"
    rcs+=($?)
  done
  PIDS=()
  RC="${rcs[*]}"
  EL=$(($(date +%s) - T0))
}
# run2 NAME [VAR=VALUE ...] -- TRAIN_ARGS ...: a job that must succeed
run2() {
  launch "$@"
  collect
  [ "$RC" = "0 0" ] || { cat "$TMP/$1.0.log" "$TMP/$1.1.log"; fail "$1: exit statuses $RC"; }
}
same() { # same DIR_A DIR_B WHAT: the model and optimizer state of checkpoint-6, byte for byte
  for f in model.safetensors optimizer.safetensors; do
    cmp -s "$1/checkpoint-6/$f" "$2/checkpoint-6/$f" || fail "$3: $f differs"
  done
}

# ---- 1. two ranks on the pairs == one process on the records
run2 dp -- $Y $ARGS --train-data "$TMP/pairs.json" --output "$TMP/dp"
"$GLINER" train $Y $ARGS --train-data "$TMP/one.json" --output "$TMP/one" >"$TMP/one.log" 2>&1 ||
  { cat "$TMP/one.log"; fail "1 process"; }
grep -q "data parallel: 2 ranks (tcp)" "$TMP/dp.0.log" || fail "rank 0 does not say it trains with 2 ranks over tcp"
[ "$(grep -c '^step 6/6' "$TMP/dp.0.log")" = 1 ] && ! grep -q '^step' "$TMP/dp.1.log" ||
  fail "rank 1 printed progress too (only rank 0 speaks)"
diff <(grep -o '"loss": [^,]*' "$TMP/one/train_log.jsonl") <(grep -o '"loss": [^,]*' "$TMP/dp/train_log.jsonl") >/dev/null ||
  fail "the losses differ from one process"
same "$TMP/one" "$TMP/dp" "2 torchrun-style ranks on the pairs against one process"
grep -q '"world_size":[[:space:]]*2' "$TMP/dp/checkpoint-6/resume.json" || fail "resume.json does not record the world size"
echo "ok: 2 torchrun-style ranks average their gradients and losses exactly as one process does"

# ---- 2. distinct records: the same bytes as mpirun -np 2; ZeRO-1 the same again
run2 dp2 -- $Y $ARGS --train-data "$TMP/one.json" --output "$TMP/dp2"
cmp -s "$TMP/one/checkpoint-6/model.safetensors" "$TMP/dp2/checkpoint-6/model.safetensors" &&
  fail "2 ranks on distinct records trained exactly as one process (the records were not split)"
if ! command -v mpirun >/dev/null; then
  echo "SKIP: the comparison with mpirun -np 2 (no mpirun)"
elif ! "$GLINER" version | grep -q '^data-parallel training: MPI'; then
  echo "SKIP: the comparison with mpirun -np 2 (gliner built without MPI)"
else
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
  mpirun --allow-run-as-root --oversubscribe -np 2 -x ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    "$GLINER" train $Y $ARGS --train-data "$TMP/one.json" --output "$TMP/mpi" >"$TMP/mpi.log" 2>&1 ||
    { cat "$TMP/mpi.log"; fail "mpirun -np 2"; }
  diff <(grep -o '"loss": [^,]*' "$TMP/mpi/train_log.jsonl") <(grep -o '"loss": [^,]*' "$TMP/dp2/train_log.jsonl") \
    >/dev/null || fail "the losses differ from mpirun -np 2"
  same "$TMP/mpi" "$TMP/dp2" "torchrun-style against mpirun -np 2"
  echo "ok: 2 torchrun-style ranks write the same bytes as mpirun -np 2"
fi
TORCHRUN=${GLINER_TORCHRUN:-$(command -v torchrun)} # PyTorch's launcher itself, where installed
if [ -z "$TORCHRUN" ]; then
  echo "SKIP: the comparison with torchrun itself (no torchrun on PATH, GLINER_TORCHRUN not set)"
else
  "$TORCHRUN" --nproc_per_node 2 --no-python "$GLINER" train $Y $ARGS --train-data "$TMP/one.json" \
    --output "$TMP/real" >"$TMP/real.log" 2>&1 || { cat "$TMP/real.log"; fail "torchrun --nproc_per_node 2"; }
  same "$TMP/dp2" "$TMP/real" "torchrun --nproc_per_node 2 against the hand-made launch"
  echo "ok: torchrun --nproc_per_node 2 --no-python gliner train writes the same bytes"
fi
sed 's/^training:/training:\n  zero_stage: 1/' $Y >"$TMP/z.yaml"
run2 z -- "$TMP/z.yaml" $ARGS --train-data "$TMP/one.json" --output "$TMP/z"
same "$TMP/dp2" "$TMP/z" "ZeRO-1 against plain data parallel"
echo "ok: ZeRO-1 over tcp trains the same bytes as plain data parallel"
# bf16 sums (ddp_reduce_dtype bf16) in small buckets, plain and ZeRO-1 (a bf16 reduce-scatter): the same bytes
sed 's/^training:/training:\n  ddp_reduce_dtype: bf16\n  ddp_bucket_cap_mb: 0.05/' $Y >"$TMP/b.yaml"
sed 's/^training:/training:\n  zero_stage: 1/' "$TMP/b.yaml" >"$TMP/zb.yaml"
run2 b -- "$TMP/b.yaml" $ARGS --train-data "$TMP/one.json" --output "$TMP/b"
run2 zb -- "$TMP/zb.yaml" $ARGS --train-data "$TMP/one.json" --output "$TMP/zb"
same "$TMP/b" "$TMP/zb" "ZeRO-1 with bf16 sums against plain data parallel with bf16 sums"
cmp -s "$TMP/dp2/checkpoint-6/model.safetensors" "$TMP/b/checkpoint-6/model.safetensors" &&
  fail "bf16 sums trained the bytes of fp32 sums"
echo "ok: bf16 sums over tcp, plain and ZeRO-1, the same bytes"

# ---- 3. resume
run2 r3 -- $Y $ARGS --train-data "$TMP/one.json" --output "$TMP/r" --stop-at 3
run2 r6 -- $Y $ARGS --train-data "$TMP/one.json" --output "$TMP/r" --resume "$TMP/r"
grep -q "resumed from .* at step 3" "$TMP/r6.0.log" || fail "the second run did not resume: $(cat "$TMP/r6.0.log")"
same "$TMP/dp2" "$TMP/r" "2 torchrun-style ranks stopped at step 3 and resumed"
"$GLINER" train $Y $ARGS --train-data "$TMP/one.json" --output "$TMP/r" --resume "$TMP/r" --steps 8 >"$TMP/r1.log" 2>&1 &&
  fail "a 2-rank checkpoint resumed in one process"
grep -q "written by a run of 2 ranks, this run has 1" "$TMP/r1.log" && grep -q "torchrun --nproc_per_node 2" "$TMP/r1.log" ||
  fail "world-size message: $(cat "$TMP/r1.log")"
echo "ok: resume is exact with the same world size and refused with another"

# ---- 4. faults
sed 's/^training:/training:\n  collective_timeout_s: 60/' $Y >"$TMP/t60.yaml"
sed 's/^training:/training:\n  collective_timeout_s: 3/' $Y >"$TMP/t3.yaml"
launch dead GLINER_TEST_FAULT=exit:1:2 -- "$TMP/t60.yaml" $ARGS --train-data "$TMP/one.json" --output "$TMP/dead"
collect
[ "$RC" = "1 3" ] || { cat "$TMP/dead.0.log"; fail "rank 1 exits at step 2: exit statuses $RC (expected 1 3)"; }
[ $EL -lt 30 ] || fail "rank 1 exits: rank 0 took $EL s to end (its timeout is 60 s)"
[ "$(grep -c '^gliner train: ' "$TMP/dead.0.log")" = 1 ] &&
  grep -Eq "^gliner train: rank 0 of 2: the gradient all-reduce of step 2: rank 1 at 127\.0\.0\.1:[0-9]+ closed the connection: it exited or died$" \
    "$TMP/dead.0.log" || { cat "$TMP/dead.0.log"; fail "rank 1 exits: no one line naming it"; }
grep -q "^error: rank 0 of 2: the gradient all-reduce of step 2: rank 1 at" "$TMP/dead/train.log" ||
  fail "OUTDIR/train.log does not say why the job ended"
[ -d "$TMP/dead/checkpoint-2" ] && fail "a checkpoint was written after a rank died"
launch dead0 GLINER_TEST_FAULT=exit:0:2 -- "$TMP/t60.yaml" $ARGS --train-data "$TMP/one.json" --output "$TMP/dead0"
collect
[ "$RC" = "3 1" ] && [ $EL -lt 30 ] || fail "rank 0 exits at step 2: exit statuses $RC after $EL s"
grep -Eq "^gliner train: rank 1 of 2: the gradient all-reduce of step 2: rank 0 at 127\.0\.0\.1:$PORT closed the connection: it exited or died$" \
  "$TMP/dead0.1.log" || { cat "$TMP/dead0.1.log"; fail "rank 0 exits: no one line naming it"; }
echo "ok: a rank that exits ends the job at once ($EL s), naming it"
launch hang GLINER_TEST_FAULT=hang:1:2 -- "$TMP/t3.yaml" $ARGS --train-data "$TMP/one.json" --output "$TMP/hang"
wait "${PIDS[0]}"
rc0=$?
unset 'PIDS[0]'
EL=$(($(date +%s) - T0))
kill "${PIDS[1]}" # what torchrun does to the others once one rank failed
collect
[ $rc0 != 0 ] && [ $EL -lt 30 ] || fail "rank 1 hangs: rank 0 exited with $rc0 after $EL s (timeout 3 s)"
grep -Eq "^gliner train: rank 0 of 2: the gradient all-reduce of step 2 did not complete within 3 s: another rank died or hangs \(waited for rank 1 at 127\.0\.0\.1:[0-9]+ to send its part\)$" \
  "$TMP/hang.0.log" || { cat "$TMP/hang.0.log"; fail "rank 1 hangs: no line naming the rank and the collective"; }
echo "ok: a rank that hangs ends the job at training.collective_timeout_s ($EL s), naming it"
