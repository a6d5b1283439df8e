# train_lib.sh -- shared by the `gliner train` CLI tests: sourced, never run (the suite runs tests/cli/test_*.sh).
# Sourcing it makes TMP, a directory removed at exit, fail MESSAGE, train_yaml and expect_err.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# train_yaml OUT TRAIN_JSON STEPS EVAL_EVERY SAVE_LIMIT: a small run's config (batch 3, cosine, focal alpha 0.75 and
# gamma 2, seed 7)
train_yaml() {
cat >"$1" <<Y
model:
  name: "test"
  max_types: 6
  max_neg_type_ratio: 1
data:
  root_dir: $TMP/unused
  train_data: "$2"
  val_data_dir: "none"
training:
  prev_path: null
  num_steps: $3
  train_batch_size: 3
  eval_every: $4
  warmup_steps: 0.1
  scheduler_type: "cosine"
  loss_alpha: 0.75
  loss_gamma: 2
  loss_reduction: "sum"
  negatives: 1.0
  masking: "none"
  lr_encoder: 1e-4
  lr_others: 5e-4
  weight_decay_encoder: 0.01
  weight_decay_other: 0.01
  max_grad_norm: 1.0
  save_total_limit: $5
  seed: 7
  freeze_components: null
Y
}

# expect_err CODE PATTERN CMD...: CMD exits with CODE and says PATTERN on stderr
expect_err() {
  local code=$1 pat=$2; shift 2
  "$@" >"$TMP/e.out" 2>"$TMP/e.err"
  local rc=$?
  [ $rc = "$code" ] || { cat "$TMP/e.err"; fail "exit $rc (expected $code): $*"; }
  [ "$(wc -l <"$TMP/e.err")" -ge 1 ] || fail "no error message: $*"
  grep -q -- "$pat" "$TMP/e.err" || { cat "$TMP/e.err"; fail "error does not match '$pat': $*"; }
}
