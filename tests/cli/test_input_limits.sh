#!/usr/bin/env bash
# test_input_limits.sh GLINER SRC -- the reproductions of issue 11 (items 2, 3, 4, 6, 7 and two of 9) against the
# CLI, each an error of one line and exit 1 where it used to crash, hang, read out of bounds or give nothing:
#   FIFOs as tokenizer.json / gliner_config.json / tokenizer_config.json / model.safetensors (must not hang);
#   padding.pad_id and vocabulary ids outside the embedding table; an unknown hidden_act (and quick_gelu runs);
#   a class_token_index that is not <<ENT>>'s id; control bytes in tensor names (escaped, predict and info --list);
#   a 200 KB one-word text and a 100 KB label (bounded time and memory, a warning or a per-text error);
#   a BERT text past max_position_embeddings without a finite model_max_length (cut, not an abort);
#   training data whose labels overflow the prompt (negatives dropped; positives too long: refused up front).
# Needs python3 (exit 77 = skipped without it).
set -u
GLINER=$1 SRC=$2
PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: no python3"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
M=$SRC/tests/fixtures/models/uni_span_deberta_markerV0
B=$SRC/tests/fixtures/models/uni_span_bert_markerV0
BI=$SRC/tests/fixtures/models/bi_span_bert

copy() { rm -rf "$TMP/$2"; cp -rL "$1" "$TMP/$2"; }
# expect_err NAME WANT CMD...: exit 1 within 60 s, one line on stderr containing WANT, nothing on stdout
expect_err() {
    local name=$1 want=$2
    shift 2
    timeout 60 "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    [ $rc -eq 124 ] && fail "$name: still running after 60 s (blocked?)"
    [ $rc -eq 1 ] || fail "$name: exit $rc, expected 1 ($(head -c 300 "$TMP/err"))"
    grep -qF -- "$want" "$TMP/err" || fail "$name: expected '$want' on stderr, got: $(head -c 500 "$TMP/err")"
    [ "$(grep -vc '^gliner: warning' "$TMP/err")" -eq 1 ] || fail "$name: more than one error line: $(cat "$TMP/err")"
    [ ! -s "$TMP/out" ] || fail "$name: wrote to stdout: $(head -c 200 "$TMP/out")"
}
json_edit() { # json_edit FILE PYTHON-STATEMENT (d is the parsed file)
    "$PY" -c "import json,sys; p=sys.argv[1]; d=json.load(open(p)); $2; json.dump(d, open(p, 'w'))" "$1"
}

# ---- 6: FIFOs are refused at once
for f in tokenizer.json gliner_config.json tokenizer_config.json model.safetensors; do
    copy "$M" fifo
    rm "$TMP/fifo/$f" && mkfifo "$TMP/fifo/$f"
    expect_err "FIFO $f" "$TMP/fifo/$f: not a regular file (FIFO)" "$GLINER" predict --model "$TMP/fifo" --labels person "John"
done
copy "$BI" fifo
rm "$TMP/fifo/labels_tokenizer/tokenizer.json" && mkfifo "$TMP/fifo/labels_tokenizer/tokenizer.json"
expect_err "FIFO labels_tokenizer/tokenizer.json" "labels_tokenizer/tokenizer.json: not a regular file (FIFO)" \
    "$GLINER" predict --model "$TMP/fifo" --labels person "John"
copy "$M" fifo
rm "$TMP/fifo/tokenizer.json" && mkfifo "$TMP/fifo/tokenizer.json"
expect_err "tokenize, FIFO tokenizer.json" "not a regular file (FIFO)" \
    "$GLINER" tokenize --model "$TMP/fifo" < <(echo '{"text": "John", "labels": ["person"]}')
copy "$M" fifo
rm "$TMP/fifo/tokenizer_config.json" && mkfifo "$TMP/fifo/tokenizer_config.json"
expect_err "tokenize, FIFO tokenizer_config.json" "not a regular file (FIFO)" \
    "$GLINER" tokenize --model "$TMP/fifo" < <(echo '{"text": "John", "labels": ["person"]}')
echo "ok: FIFOs refused without blocking"

# ---- 2: token ids against the embedding table (604 rows in the DeBERTa fixture)
for v in 2147483647 3000 1000000 700 604; do
    copy "$M" pad
    json_edit "$TMP/pad/tokenizer.json" "d['padding']['pad_id'] = $v"
    expect_err "pad_id $v" "$TMP/pad/tokenizer.json: padding.pad_id $v is outside the encoder's word embeddings (604 rows" \
        "$GLINER" predict --model "$TMP/pad" --labels person,location "John Smith lives in Berlin" "a"
done
copy "$B" vocab
json_edit "$TMP/vocab/tokenizer.json" "d['model']['vocab']['zebra'] = 700"
expect_err "vocabulary id 700" "vocabulary token \"zebra\" has id 700, outside the encoder's word embeddings (603 rows" \
    "$GLINER" predict --model "$TMP/vocab" --labels person "zebra"
# (the text tokenizer's post-processor is rebuilt from its bos/eos as the reference's _set_tokenizer_spec_tokens
# does; a bi-encoder's label tokenizer keeps its own)
copy "$SRC/tests/fixtures/models/bi_span_bert" post
json_edit "$TMP/post/labels_tokenizer/tokenizer.json" "d['post_processor'] = {'type': 'BertProcessing', 'cls': ['[CLS]', 2], 'sep': ['[SEP]', 5000]}"
expect_err "post-processor id" "post_processor: special token id 5000 is outside" \
    "$GLINER" predict --model "$TMP/post" --labels person "zebra"
echo "ok: token ids checked at load"

# ---- 3: hidden_act
copy "$B" act
json_edit "$TMP/act/gliner_config.json" "d['encoder_config']['hidden_act'] = 'gelu_foo'"
expect_err "hidden_act gelu_foo" "encoder_config.hidden_act: \"gelu_foo\" is not supported (supported: gelu, gelu_python, gelu_new" \
    "$GLINER" predict --model "$TMP/act" --labels person "John"
grep -qF "$TMP/act/gliner_config.json:" "$TMP/err" || fail "hidden_act: the error does not name the file: $(cat "$TMP/err")"
json_edit "$TMP/act/gliner_config.json" "d['encoder_config']['hidden_act'] = 'quick_gelu'"
"$GLINER" predict --model "$TMP/act" --labels person "John" >"$TMP/out" 2>"$TMP/err" || fail "quick_gelu: $(cat "$TMP/err")"
echo "ok: hidden_act checked at load, quick_gelu runs"

# ---- 9: class_token_index must be <<ENT>>'s id (602 here); -1 is the reference's "not set": len(tokenizer) - 2
copy "$M" cti
json_edit "$TMP/cti/gliner_config.json" "d['class_token_index'] = 603"
expect_err "class_token_index 603" "class_token_index 603 is not the id of \"<<ENT>>\"" \
    "$GLINER" predict --model "$TMP/cti" --labels person,location "John lives in Berlin"
json_edit "$TMP/cti/gliner_config.json" "d['class_token_index'] = -1"
"$GLINER" predict --model "$TMP/cti" --labels person,location --threshold 0.2 "John lives in Berlin" >"$TMP/a" 2>"$TMP/err" ||
    fail "class_token_index -1: $(cat "$TMP/err")"
"$GLINER" predict --model "$M" --labels person,location --threshold 0.2 "John lives in Berlin" >"$TMP/b" 2>/dev/null
cmp -s "$TMP/a" "$TMP/b" || fail "class_token_index -1 should mean <<ENT>>'s id: $(cat "$TMP/a") vs $(cat "$TMP/b")"
echo "ok: class_token_index checked against the tokenizer"

# ---- 9: control bytes in tensor names are escaped
copy "$M" names
"$PY" - "$TMP/names/model.safetensors" <<'PYEOF'
import json, struct, sys
p = sys.argv[1]
b = open(p, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
data = b[8 + n:]
h["evil\x01name\x1b[31m"] = {"dtype": "F32", "shape": [1], "data_offsets": [len(data), len(data) + 4]}
hj = json.dumps(h).encode()
hj += b" " * ((8 - len(hj) % 8) % 8)
open(p, "wb").write(struct.pack("<Q", len(hj)) + hj + data + b"\0\0\0\0")
PYEOF
expect_err "tensor name with control bytes" "tensor 'evil\\x01name\\x1b[31m' [1]: unexpected" \
    "$GLINER" predict --model "$TMP/names" --labels person "John"
"$PY" -c "import sys; b=open(sys.argv[1],'rb').read(); sys.exit(1 if b'\x01' in b or b'\x1b' in b else 0)" "$TMP/err" ||
    fail "raw control bytes in the error: $(cat -v "$TMP/err")"
"$GLINER" info --list "$TMP/names" >"$TMP/out" 2>"$TMP/err"
[ $? -eq 1 ] || fail "info: expected exit 1 for the unexpected tensor"
cat "$TMP/out" "$TMP/err" >"$TMP/all"
grep -qF 'evil\x01name\x1b[31m' "$TMP/all" || fail "info --list: the name is not escaped: $(cat -v "$TMP/all" | grep evil)"
"$PY" -c "import sys; b=open(sys.argv[1],'rb').read(); sys.exit(1 if b'\x01' in b or b'\x1b' in b else 0)" "$TMP/all" ||
    fail "raw control bytes in gliner info's output"
echo "ok: tensor names escaped"

# ---- 4: one huge word, one huge label: bounded time and memory
"$PY" -c "print('a' * 200000)" >"$TMP/word.txt"
"$PY" -c "print('x' * 100000)" >"$TMP/label.txt"
"$PY" - "$GLINER" "$M" "$BI" "$TMP" <<'PYEOF' || fail "huge word / label"
import resource, subprocess, sys, time
gliner, m, bi, tmp = sys.argv[1:5]
def run(args, want_rc):
    t0 = time.time()
    p = subprocess.run([gliner] + args, capture_output=True, text=True, timeout=120)
    dt = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    if p.returncode != want_rc:
        sys.exit(f"{args[:3]}: exit {p.returncode} (expected {want_rc}): {p.stderr[:300]}")
    if dt > 30 or rss > 1024:
        sys.exit(f"{args[:3]}: {dt:.1f} s, {rss} MB peak: not bounded")
    return p
label = open(f"{tmp}/label.txt").read().strip()
p = run(["predict", "--model", m, "--labels", "person,location", "--file", f"{tmp}/word.txt"], 0)
if "cut to the cap of 768 per sequence" not in p.stderr:
    sys.exit(f"200 KB word: no truncation warning: {p.stderr[:300]}")
p = run(["predict", "--model", m, "--labels", "person," + label, "John lives in Berlin"], 1)
if "text 0: the prompt of its 2 labels takes" not in p.stderr or "no room for the text" not in p.stderr:
    sys.exit(f"100 KB label (uni-encoder): {p.stderr[:300]}")
p = run(["predict", "--model", bi, "--labels", "person," + " ".join(["word"] * 20000), "John lives in Berlin"], 0)
if "label 1:" not in p.stderr or "cut to the label encoder's cap of 128" not in p.stderr:
    sys.exit(f"20,000-word label (bi-encoder): no truncation warning: {p.stderr[:300]}")
print("ok: a 200 KB word and a 100 KB label: bounded, warned or refused per text")
PYEOF

# ---- 3: a BERT text past max_position_embeddings (128) without a finite model_max_length: cut, not an abort
T=$("$PY" -c "print(' '.join('word%d' % i for i in range(60)))")
copy "$B" nocfg
rm "$TMP/nocfg/tokenizer_config.json"
for v in none 1e30; do
    [ "$v" = 1e30 ] && echo '{"model_max_length": 1000000000000000019884624838656}' >"$TMP/nocfg/tokenizer_config.json"
    "$GLINER" predict --model "$TMP/nocfg" --labels person "$T" >"$TMP/out" 2>"$TMP/err" ||
        fail "BERT long text, tokenizer_config $v: exit $? $(cat "$TMP/err")"
    grep -qF "cut to the cap of 128 per sequence" "$TMP/err" || fail "BERT long text ($v): no warning: $(cat "$TMP/err")"
done
echo "ok: BERT texts cut at the position table"

# ---- 7: training with prompts that overflow the cap (the BERT fixture: model_max_length 128)
"$PY" - "$TMP" <<'PYEOF'
import json, random, sys
tmp = sys.argv[1]
random.seed(1)
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
recs = []
for r in range(12):
    labs = ["type %d %s" % (r * 3 + k, " ".join(random.choice(words) for _ in range(5))) for k in range(3)]
    recs.append({"tokenized_text": ["w%d" % i for i in range(10)], "ner": [[0, 1, labs[0]], [3, 3, labs[1]], [5, 6, labs[2]]]})
json.dump(recs, open(f"{tmp}/long_labels.json", "w"))
labs = ["enormous label %d " % k + " ".join(["supercalifragilistic"] * 12) for k in range(8)]
recs.insert(5, {"tokenized_text": list("abcdefgh"), "ner": [[i, i, labs[i]] for i in range(8)]})
json.dump(recs, open(f"{tmp}/too_long.json", "w"))
PYEOF
cat >"$TMP/train.yaml" <<Y
model:
  name: "test"
  max_types: 30
  max_neg_type_ratio: 10
data:
  root_dir: $TMP/unused
  train_data: "$TMP/long_labels.json"
  val_data_dir: "none"
training:
  prev_path: null
  num_steps: 4
  train_batch_size: 12
  eval_every: 100
  warmup_steps: 0
  scheduler_type: "linear"
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
  save_total_limit: 1
  seed: 7
  freeze_components: null
Y
GLINER_LOG=debug "$GLINER" train "$TMP/train.yaml" --model "$B" --output "$TMP/run1" >"$TMP/out" 2>"$TMP/err" ||
    fail "training with overflowing negatives: exit $?: $(grep -v '^step\|debug' "$TMP/err" | tail -3)"
grep -q "sampled negative labels dropped from the end of its prompt" "$TMP/err" || fail "no negatives were dropped: the test data no longer overflows"
[ -d "$TMP/run1/checkpoint-4" ] || fail "no checkpoint after the run"
expect_err "positives too long" "too_long.json: record 5: the prompt of its 8 entity labels takes" \
    "$GLINER" train "$TMP/train.yaml" --model "$B" --output "$TMP/run2" --train-data "$TMP/too_long.json"
ls "$TMP/run2" | grep -q checkpoint && fail "a checkpoint was written before the data error"
echo "ok: training prompts fit the cap (negatives dropped; too-long positives refused up front)"
