#!/usr/bin/env bash
# test_predict_launch.sh GLINER SRC -- `gliner predict` under mpirun or srun without --shard (issue 15): each rank
# takes its shard from the launcher's environment (no MPI call), writes --output FILE as FILE.R-of-N and says so on
# stderr; the files merged by "index" (LC_ALL=C sort -m -t: -k2,2n, as the usage says) are byte for byte one process's output.
#   1. the environment alone (no launcher needed): Open MPI's, MPICH's (PMI_RANK/PMI_SIZE) and srun's variables; a
#      Slurm batch script's own SLURM_PROCID/SLURM_NTASKS (no srun step) are no launch; an explicit --shard wins;
#      several ranks without --output, and a rank past the size, are one-line errors; --device cuda is the rank's
#      local GPU (a CPU build then fails on it, naming it);
#   2. mpirun -np 2 (skipped, 77, without mpirun -- after part 1 has passed).
set -u
GLINER=$1 SRC=$2
M=$SRC/tests/fixtures/models/uni_span_bert_markerV0
. "$SRC/tests/cli/predict_lib.sh" # TMP, fail, texts
# no launch of the harness's own may leak in
unset OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE OMPI_COMM_WORLD_LOCAL_RANK PMI_RANK PMI_SIZE PMIX_RANK MPI_LOCALRANKID \
  SLURM_PROCID SLURM_NTASKS SLURM_STEP_NUM_TASKS SLURM_LOCALID LOCAL_RANK

texts 41 3 2 12 >"$TMP/in.txt"
# batches of one: a shard's lines are then byte for byte the whole run's
P=(predict --model "$M" --labels person,location --threads 1 --batch-size 1 --file "$TMP/in.txt")
"$GLINER" "${P[@]}" >"$TMP/all.jsonl" 2>"$TMP/err" || fail "one process: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/all.jsonl")" = 41 ] || fail "one process: $(wc -l <"$TMP/all.jsonl") lines"

# 1. the environment
for launcher in "OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE" "PMI_RANK PMI_SIZE" "SLURM_PROCID SLURM_STEP_NUM_TASKS"; do
  set -- $launcher
  rm -f "$TMP"/out.jsonl*
  for r in 0 1 2; do
    env "$1=$r" "$2=3" "$GLINER" "${P[@]}" --output "$TMP/out.jsonl" 2>"$TMP/err" || fail "$1=$r of 3: $(cat "$TMP/err")"
    grep -q "^gliner predict: rank $r of 3 ($1): inputs whose index is $r mod 3, written to $TMP/out.jsonl.$r-of-3\$" "$TMP/err" ||
      fail "$1=$r of 3: stderr: $(cat "$TMP/err")"
  done
  [ ! -e "$TMP/out.jsonl" ] || fail "$1: a rank wrote FILE itself"
  LC_ALL=C sort -m -t: -k2,2n "$TMP"/out.jsonl.*-of-3 | cmp -s - "$TMP/all.jsonl" || fail "$1: the 3 files merged differ from one process's output"
done
echo "ok: Open MPI, MPICH and srun environments: 3 ranks, 3 files, merged = one process"

# a batch script's allocation is no launch: the script runs once, over every input, and may write to stdout
SLURM_PROCID=0 SLURM_NTASKS=4 SLURM_LOCALID=0 "$GLINER" "${P[@]}" >"$TMP/o" 2>"$TMP/err" || fail "batch script: $(cat "$TMP/err")"
cmp -s "$TMP/o" "$TMP/all.jsonl" || fail "SLURM_PROCID and SLURM_NTASKS outside an srun step sharded the run"
# an explicit --shard wins (said on stderr)
OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2 "$GLINER" "${P[@]}" --shard 0/3 >"$TMP/o" 2>"$TMP/err" ||
  fail "--shard under a launch: $(cat "$TMP/err")"
grep -q "rank 1 of 2 (OMPI_COMM_WORLD_RANK): --shard 0/3 given, used as it is" "$TMP/err" && [ "$(wc -l <"$TMP/o")" = 14 ] ||
  fail "--shard under a launch: $(wc -l <"$TMP/o") lines: $(cat "$TMP/err")"
# several ranks need --output (exit 2); nonsense values are one-line errors (exit 1)
OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=2 "$GLINER" "${P[@]}" >"$TMP/o" 2>"$TMP/err"
rc=$?
[ $rc = 2 ] && [ ! -s "$TMP/o" ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "2 ranks (OMPI_COMM_WORLD_RANK): --output FILE is required" "$TMP/err" ||
  fail "2 ranks on stdout: exit $rc: $(cat "$TMP/err")"
for bad in "OMPI_COMM_WORLD_RANK=2 OMPI_COMM_WORLD_SIZE=2" "PMI_RANK=x PMI_SIZE=2" "SLURM_PROCID=0 SLURM_STEP_NUM_TASKS=0"; do
  env $bad "$GLINER" "${P[@]}" --output "$TMP/bad.jsonl" >/dev/null 2>"$TMP/err"
  rc=$?
  [ $rc = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "gliner predict: the launch's environment: " "$TMP/err" ||
    fail "$bad: exit $rc: $(cat "$TMP/err")"
done
# --device cuda: the rank's local GPU, from its launcher's variable (or LOCAL_RANK); none: an error naming them
env OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_LOCAL_RANK=1 "$GLINER" "${P[@]}" --device cuda \
  --output "$TMP/gpu.jsonl" >/dev/null 2>"$TMP/err"
grep -qE "; --device cuda is cuda:[01] \(OMPI_COMM_WORLD_LOCAL_RANK=1" "$TMP/err" || fail "--device cuda, local rank 1: $(cat "$TMP/err")"
env PMI_RANK=1 PMI_SIZE=2 LOCAL_RANK=1 "$GLINER" "${P[@]}" --device cuda --output "$TMP/gpu.jsonl" >/dev/null 2>"$TMP/err"
grep -qE "; --device cuda is cuda:[01] \(LOCAL_RANK=1" "$TMP/err" || fail "--device cuda, LOCAL_RANK=1: $(cat "$TMP/err")"
env PMI_RANK=1 PMI_SIZE=2 "$GLINER" "${P[@]}" --device cuda --output "$TMP/gpu.jsonl" >/dev/null 2>"$TMP/err"
rc=$?
[ $rc = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "no local rank in the environment" "$TMP/err" ||
  fail "--device cuda without a local rank: exit $rc: $(cat "$TMP/err")"
echo "ok: batch scripts are no launch, --shard wins, bad environments and missing --output are one-line errors"

# 2. mpirun
command -v mpirun >/dev/null || { echo "SKIP: no mpirun (the environment checks above passed)"; exit 77; }
MPIRUN=(mpirun --allow-run-as-root --oversubscribe -np 2)
rm -f "$TMP"/out.jsonl*
"${MPIRUN[@]}" "$GLINER" "${P[@]}" --output "$TMP/out.jsonl" >"$TMP/mpi.out" 2>"$TMP/err" || fail "mpirun -np 2: $(cat "$TMP/err")"
for r in 0 1; do
  grep -q "rank $r of 2 (OMPI_COMM_WORLD_RANK): inputs whose index is $r mod 2, written to $TMP/out.jsonl.$r-of-2" "$TMP/err" ||
    fail "mpirun: rank $r did not say which file it writes: $(cat "$TMP/err")"
done
[ ! -e "$TMP/out.jsonl" ] && [ ! -s "$TMP/mpi.out" ] || fail "mpirun: something went to FILE itself or to stdout"
[ "$(wc -l <"$TMP/out.jsonl.0-of-2")" = 21 ] && [ "$(wc -l <"$TMP/out.jsonl.1-of-2")" = 20 ] ||
  fail "mpirun: $(wc -l "$TMP"/out.jsonl.*)"
LC_ALL=C sort -m -t: -k2,2n "$TMP"/out.jsonl.*-of-2 | cmp -s - "$TMP/all.jsonl" || fail "mpirun -np 2: the 2 files merged differ from one process's output"
"${MPIRUN[@]}" "$GLINER" "${P[@]}" >"$TMP/mpi.out" 2>"$TMP/err" && fail "mpirun -np 2 to stdout accepted"
[ ! -s "$TMP/mpi.out" ] && grep -q -- "--output FILE is required" "$TMP/err" || fail "mpirun -np 2 to stdout: $(cat "$TMP/err")"
echo "ok: mpirun -np 2: two files, merged by index = one process's output"
