#!/usr/bin/env bash
# test_comm.sh GLINER SRC -- the communicators (host/comm.h) under real launches: tests/unit/test_comm.c (every
# collective, awkward sizes, exact values) run as each rank of a job of 2 and of 3 processes,
#   1. torchrun-style: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set by hand as torchrun sets them, no
#      MPI runtime: the tcp communicator (rank 0 started last: the others retry until it listens);
#   2. under mpirun -np 2 and 3: the mpi communicator (skipped, visibly, without mpirun or MPI in this build); under
#      torchrun --nproc_per_node 3 itself where it is installed (skipped, visibly, where not);
#   3. the tcp communicator's faults: a rank that exits ends the others at once (not at their timeout) with one line
#      naming it; a rank that hangs, at the timeout; a rank that calls another collective, with both named; and the
#      launches it refuses: RANK >= WORLD_SIZE, no MASTER_PORT, ranks that disagree on WORLD_SIZE, two processes with
#      one RANK, a MASTER_PORT another process listens on.
# The program: CTest passes its path in GLINER_TEST_COMM (tests/CMakeLists.txt); by hand, the build's
# tests/unit_test_comm beside GLINER.
set -u
GLINER=$1
PROG=${GLINER_TEST_COMM:-$(dirname "$GLINER")/tests/unit_test_comm}
[ -x "$PROG" ] || { echo "FAIL: no test program $PROG (build the unit_test_comm target)"; exit 1; }
TMP=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# launch N [VAR=VALUE ...]: a torchrun-style job of N ranks of the program in the background, rank 0 started last
# (0.3 s after the others); PIDS, each rank's output in TMP/N.R.log
launch() {
  local n=$1
  shift
  PORT=$("$PROG" --free-port) || fail "no free port on 127.0.0.1"
  PIDS=()
  for ((r = n - 1; r >= 0; r--)); do
    [ $r = 0 ] && sleep 0.3
    env "$@" RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT \
      timeout 300 "$PROG" >"$TMP/$n.$r.log" 2>&1 &
    PIDS[r]=$!
  done
}
# collect: waits for every rank; RC[r] its exit status, EL the seconds since launch
collect() {
  RC=()
  for r in "${!PIDS[@]}"; do
    wait "${PIDS[r]}"
    RC[r]=$?
  done
  PIDS=()
  EL=$(($(date +%s) - T0))
}
# one_line FILE PATTERN: FILE is exactly one line, and it matches the extended regular expression PATTERN
one_line() {
  [ "$(wc -l <"$1")" = 1 ] && grep -Eq "$2" "$1" || fail "$(basename "$1"): expected one line matching '$2', got: $(cat "$1")"
}

# ---- the program alone: the single communicator
"$PROG" >"$TMP/alone.log" 2>&1 || { cat "$TMP/alone.log"; fail "alone"; }
grep -q "^PASS test_comm: rank 0 of 1 (single)" "$TMP/alone.log" || fail "alone: $(cat "$TMP/alone.log")"
echo "ok: the single communicator"

# ---- 1. torchrun-style jobs of 2 and 3 ranks
for n in 2 3; do
  T0=$(date +%s)
  launch $n
  collect
  for ((r = 0; r < n; r++)); do
    [ "${RC[r]}" = 0 ] || { cat "$TMP/$n.$r.log"; fail "torchrun-style, $n ranks: rank $r exited with ${RC[r]}"; }
    grep -q "^PASS test_comm: rank $r of $n (tcp)" "$TMP/$n.$r.log" || fail "rank $r of $n: $(cat "$TMP/$n.$r.log")"
  done
  echo "ok: torchrun-style launch of $n ranks (tcp), every collective exact (${EL} s)"
done

# ---- 2. mpirun -np 2 and 3
if ! command -v mpirun >/dev/null; then
  echo "SKIP: the mpirun part (no mpirun on this machine)"
elif ! "$GLINER" version | grep -q '^data-parallel training: MPI'; then
  echo "SKIP: the mpirun part (gliner built without MPI)"
else
  # as root (CI), more ranks than cores; Open MPI's plugins leak at MPI_Finalize (see test_train_mpi.sh)
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
  for n in 2 3; do
    mpirun --allow-run-as-root --oversubscribe -np $n -x ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
      "$PROG" >"$TMP/mpi.$n.log" 2>&1 || { cat "$TMP/mpi.$n.log"; fail "mpirun -np $n"; }
    [ "$(grep -c "^PASS test_comm: rank [0-9] of $n (mpi)" "$TMP/mpi.$n.log")" = $n ] || fail "mpirun -np $n: $(cat "$TMP/mpi.$n.log")"
    echo "ok: mpirun -np $n (mpi), every collective exact"
  done
fi

# ---- torchrun itself (PyTorch's launcher; GLINER_TORCHRUN names one that is not on PATH): its agent keeps MASTER_PORT
#      for its own store, the ranks meet on the port after it
TORCHRUN=${GLINER_TORCHRUN:-$(command -v torchrun)}
if [ -z "$TORCHRUN" ]; then
  echo "SKIP: the torchrun part (no torchrun on PATH, GLINER_TORCHRUN not set)"
else
  # in a Slurm job's environment too (srun torchrun ...: the workers inherit SLURM_NTASKS)
  SLURM_NTASKS=2 "$TORCHRUN" --nproc_per_node 3 --no-python "$PROG" >"$TMP/torchrun.log" 2>&1 ||
    { cat "$TMP/torchrun.log"; fail "torchrun --nproc_per_node 3"; }
  [ "$(grep -c "^PASS test_comm: rank [0-9] of 3 (tcp)" "$TMP/torchrun.log")" = 3 ] || fail "torchrun: $(cat "$TMP/torchrun.log")"
  echo "ok: torchrun --nproc_per_node 3 (tcp), every collective exact"
fi

# ---- 3. faults of the tcp communicator
T0=$(date +%s) # a rank that exits after the first barrier: the others fail at once, not at the 60 s timeout
launch 3 GLINER_TEST_COMM_TIMEOUT=60 GLINER_TEST_COMM_FAULT=exit:1
collect
[ "${RC[*]}" = "1 3 1" ] || fail "rank 1 exits: exit statuses ${RC[*]} (expected 1 3 1)"
[ $EL -lt 20 ] || fail "rank 1 exits: the others took $EL s to fail"
one_line "$TMP/3.0.log" "^test_comm: rank 0 of 3: the f32 all-reduce: rank 1 at 127\.0\.0\.1:[0-9]+ closed the connection: it exited or died$"
one_line "$TMP/3.2.log" "^test_comm: rank 2 of 3: the f32 all-reduce: rank 0 at 127\.0\.0\.1:$PORT ended the job \(exit code 1\): rank 0 of 3: .*rank 1 at .* closed the connection"
T0=$(date +%s)
launch 2 GLINER_TEST_COMM_TIMEOUT=60 GLINER_TEST_COMM_FAULT=exit:0
collect
[ "${RC[*]}" = "3 1" ] && [ $EL -lt 20 ] || fail "rank 0 exits: exit statuses ${RC[*]} after $EL s"
one_line "$TMP/2.1.log" "^test_comm: rank 1 of 2: the f32 all-reduce: rank 0 at 127\.0\.0\.1:$PORT closed the connection: it exited or died$"
echo "ok: a rank that exits ends the job at once (${EL} s), naming it"

T0=$(date +%s) # a rank that hangs: the others at their 2 s timeout (torchrun then kills the hung one; here, the test)
launch 3 GLINER_TEST_COMM_TIMEOUT=2 GLINER_TEST_COMM_FAULT=hang:2
wait "${PIDS[0]}"
rc0=$?
unset 'PIDS[0]'
EL=$(($(date +%s) - T0))
kill "${PIDS[2]}"
collect
[ $rc0 = 1 ] && [ "${RC[1]}" = 1 ] && [ $EL -lt 30 ] || fail "rank 2 hangs: exit statuses $rc0 ${RC[1]} after $EL s"
one_line "$TMP/3.0.log" "^test_comm: rank 0 of 3: the f32 all-reduce did not complete within 2 s: another rank died or hangs \(waited for rank 2 at 127\.0\.0\.1:[0-9]+ to send its part\)$"
one_line "$TMP/3.1.log" "^test_comm: rank 1 of 3: the f32 all-reduce"
echo "ok: a rank that hangs ends the job at the timeout (${EL} s), naming it"

T0=$(date +%s) # a rank that calls another collective than the others
launch 2 GLINER_TEST_COMM_TIMEOUT=60 GLINER_TEST_COMM_FAULT=mismatch:1
collect
[ "${RC[*]}" = "1 1" ] && [ $EL -lt 20 ] || fail "mismatch: exit statuses ${RC[*]} after $EL s"
one_line "$TMP/2.0.log" "^test_comm: rank 0 of 2: the f32 all-reduce: rank 1 at 127\.0\.0\.1:[0-9]+ called collective #2, a broadcast of 8 bytes from rank 0 where rank 0 called collective #2, an all-reduce \(sum\) of 0 f32 \(expected every rank to call the same collectives"
one_line "$TMP/2.1.log" "^test_comm: rank 1 of 2: the mismatched broadcast: rank 0 at 127\.0\.0\.1:$PORT ended the job \(exit code 1\): rank 0 of 2: .* called collective #2, a broadcast"
echo "ok: a rank in another collective is an error naming both calls"

# the launches refused
tcp_rank() { env RANK=$1 WORLD_SIZE=$2 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 "${@:3}" timeout 60 "$PROG"; }
tcp_rank 2 2 MASTER_PORT=1 >"$TMP/r.log" 2>&1 && fail "RANK=2 of WORLD_SIZE=2 ran"
one_line "$TMP/r.log" "^test_comm: WORLD_SIZE=2: RANK is '2' \(expected 0 <= RANK < WORLD_SIZE, as torchrun sets\)$"
tcp_rank 1 2 >"$TMP/r.log" 2>&1 && fail "no MASTER_PORT ran"
one_line "$TMP/r.log" "^test_comm: WORLD_SIZE=2 RANK=1: MASTER_PORT is not set \(expected the port rank 0 listens on"
PORT=$("$PROG" --free-port)
T0=$(date +%s)
tcp_rank 0 2 MASTER_PORT=$PORT >"$TMP/w0.log" 2>&1 &
PIDS=($!)
tcp_rank 1 3 MASTER_PORT=$PORT >"$TMP/w1.log" 2>&1 &
PIDS+=($!)
collect
[ "${RC[*]}" = "1 1" ] && [ $EL -lt 20 ] || fail "WORLD_SIZE 2 and 3: exit statuses ${RC[*]} after $EL s"
one_line "$TMP/w0.log" "^test_comm: rank 0 of 2: rank 1 at 127\.0\.0\.1:[0-9]+ says WORLD_SIZE=3 \(expected 2, as rank 0's\)$"
one_line "$TMP/w1.log" "^test_comm: rank 1 of 3: joining the job: rank 0 at 127\.0\.0\.1:$PORT ended the job \(exit code 1\): .*says WORLD_SIZE=3"
T0=$(date +%s)
tcp_rank 0 3 MASTER_PORT=$PORT >"$TMP/d0.log" 2>&1 &
PIDS=($!)
tcp_rank 1 3 MASTER_PORT=$PORT >"$TMP/d1.log" 2>&1 &
PIDS+=($!)
sleep 0.5
tcp_rank 1 3 MASTER_PORT=$PORT >"$TMP/d2.log" 2>&1 &
PIDS+=($!)
collect
[ "${RC[*]}" = "1 1 1" ] && [ $EL -lt 20 ] || fail "RANK=1 twice: exit statuses ${RC[*]} after $EL s"
one_line "$TMP/d0.log" "^test_comm: rank 0 of 3: two processes say RANK=1, at 127\.0\.0\.1:[0-9]+ and at 127\.0\.0\.1:[0-9]+ \(expected each rank once\)$"
tcp_rank 0 2 MASTER_PORT=$PORT >"$TMP/p0.log" 2>&1 & # waits for its rank 1, holding the port
PIDS=($!)
sleep 0.5
tcp_rank 0 2 MASTER_PORT=$PORT >"$TMP/p1.log" 2>&1 && fail "a second rank 0 on a port in use ran"
kill "${PIDS[0]}"
collect
one_line "$TMP/p1.log" "^test_comm: rank 0 of 2: cannot listen on MASTER_ADDR 127\.0\.0\.1 port $PORT \(MASTER_PORT\): Address already in use"
echo "ok: bad launches are refused with one line each (RANK, MASTER_PORT, WORLD_SIZE, a RANK twice, a port in use)"
