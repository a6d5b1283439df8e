#!/usr/bin/env bash
# test_published.sh GLINER SRC -- a checkpoint in the layout of the published GLiNER models
# (tests/fixtures/published/, written by scripts/make_published_fixtures.py with the reference): a legacy
# gliner_config.json (no class_token_index, vocab_size or encoder_config), pytorch_model.bin, and no tokenizer: the
# backbone named by model_name has spm.model + a two-key tokenizer_config.json + config.json, no tokenizer.json.
# The same entities as the reference's must come out when the backbone is
#   1. in the Hugging Face cache (HF_HUB_CACHE, offline), the checkpoint a directory;
#   2. a local directory (model_name rewritten to its path);
#   3. both on a loopback Hub (HF_ENDPOINT): the checkpoint and the backbone's tokenizer files downloaded;
# plus `gliner info` naming what was filled in, `gliner convert` writing a checkpoint that loads on its own, and
# the errors for a backbone that cannot be found; and the bi-encoder with BERT backbones (vocab.txt) both ways.
set -u
GLINER=$1 SRC=$2
PUB=$SRC/tests/fixtures/published
PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: no python3 (JSON comparison, HTTP server)"; exit 77; }
TMP=$(mktemp -d)
. "$SRC/tests/cli/hub_server.sh"
trap 'hub_stop; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
T() { timeout 120 "$@"; }
unset HF_ENDPOINT HF_HOME HF_TOKEN XDG_CACHE_HOME HF_HUB_OFFLINE
export HF_HUB_CACHE=$TMP/cache

BACKBONE_ID=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["backbone_id"])' "$PUB/expected.json")
REV=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["revision"])' "$PUB/expected.json")
LABELS=$("$PY" -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["labels"]))' "$PUB/expected.json")
THR=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["threshold"])' "$PUB/expected.json")
"$PY" -c 'import json,sys; [print(json.dumps({"text": t})) for t in json.load(open(sys.argv[1]))["texts"]]' \
  "$PUB/expected.json" >"$TMP/in.jsonl"

# the reference's entities vs ours (JSONL, one line per text): same spans and labels, scores within 1e-4
same_entities() {
  "$PY" - "${EXPECTED:-$PUB/expected.json}" "$1" <<'PYEOF' || fail "$2: entities differ from the reference's"
import json, sys
exp = json.load(open(sys.argv[1]))["entities"]
got = [json.loads(l)["entities"] for l in open(sys.argv[2]) if l.strip()]
assert len(got) == len(exp), (len(got), len(exp))
for i, (e, g) in enumerate(zip(exp, got)):
    ke = [(x["start"], x["end"], x["label"], x["text"]) for x in e]
    kg = [(x["start"], x["end"], x["label"], x["text"]) for x in g]
    if ke != kg:
        print("text", i, "expected", ke, "got", kg); sys.exit(1)
    for x, y in zip(e, g):
        if abs(x["score"] - y["score"]) > 1e-4:
            print("text", i, "score", x["score"], y["score"]); sys.exit(1)
PYEOF
}

# --- 1. the backbone in the HF cache (offline), the checkpoint a directory
SNAP=$HF_HUB_CACHE/models--${BACKBONE_ID/\//--}/snapshots/$REV
mkdir -p "$SNAP" "$HF_HUB_CACHE/models--${BACKBONE_ID/\//--}/refs"
cp "$PUB"/backbone/* "$SNAP/"
printf %s "$REV" >"$HF_HUB_CACHE/models--${BACKBONE_ID/\//--}/refs/main"
HF_HUB_OFFLINE=1 T "$GLINER" predict --model "$PUB/gliner_legacy" --labels "$LABELS" --threshold "$THR" \
  <"$TMP/in.jsonl" >"$TMP/p_cache.jsonl" 2>"$TMP/p_cache.err" || { cat "$TMP/p_cache.err"; fail "predict with the backbone in the cache"; }
same_entities "$TMP/p_cache.jsonl" "backbone in the HF cache"

# info: where everything came from, and what the legacy config left out
HF_HUB_OFFLINE=1 T "$GLINER" info "$PUB/gliner_legacy" >"$TMP/info.txt" 2>"$TMP/info.err" || { cat "$TMP/info.err"; fail "gliner info"; }
grep -q "from $SNAP/config.json (gliner_config.json has no encoder_config)" "$TMP/info.txt" || fail "info: encoder_config source: $(cat "$TMP/info.txt")"
grep -q "class_token_index 602 (derived), vocab_size 604 (derived)" "$TMP/info.txt" || fail "info: derived indices: $(cat "$TMP/info.txt")"
grep -q "^tokenizer  *$SNAP: 604 tokens (Unigram), 3 of them GLiNER's" "$TMP/info.txt" || fail "info: tokenizer line: $(cat "$TMP/info.txt")"
grep -q "^defaults filled in .*vocab_size.*class_token_index.*encoder_config" "$TMP/info.txt" || fail "info: defaults: $(cat "$TMP/info.txt")"
grep -q "^legacy training keys .*lr_encoder" "$TMP/info.txt" || fail "info: legacy keys: $(cat "$TMP/info.txt")"
grep -q "pytorch_model.bin" "$TMP/info.txt" || fail "info: weights file: $(cat "$TMP/info.txt")"
grep -q "ok: every tensor matches the config" "$TMP/info.txt" || fail "info: check: $(cat "$TMP/info.txt")"
grep -q "unknown key" "$TMP/info.err" && fail "info warns about the legacy keys: $(cat "$TMP/info.err")"

# convert: a checkpoint that stands alone (config completed, tokenizer.json with GLiNER's tokens, safetensors)
HF_HUB_OFFLINE=1 T "$GLINER" convert "$PUB/gliner_legacy" "$TMP/converted" >/dev/null 2>"$TMP/conv.err" || { cat "$TMP/conv.err"; fail "gliner convert"; }
for f in gliner_config.json model.safetensors tokenizer.json tokenizer_config.json; do
  [ -f "$TMP/converted/$f" ] || fail "convert: no $f"
done
[ -e "$TMP/converted/pytorch_model.bin" ] && fail "convert: pytorch_model.bin copied beside model.safetensors"
"$PY" - "$TMP/converted" <<'PYEOF' || fail "convert: the written config or tokenizer_config.json"
import json, sys
c = json.load(open(sys.argv[1] + "/gliner_config.json"))
assert c["class_token_index"] == 602 and c["vocab_size"] == 604, (c["class_token_index"], c["vocab_size"])
assert c["encoder_config"]["vocab_size"] == 604 and c["encoder_config"]["model_type"] == "deberta-v2", c["encoder_config"]
t = json.load(open(sys.argv[1] + "/tokenizer_config.json"))
assert t["tokenizer_class"] == "DebertaV2Tokenizer", t
PYEOF
# no backbone needed any more: an empty cache, offline
HF_HUB_CACHE=$TMP/empty HF_HUB_OFFLINE=1 T "$GLINER" predict --model "$TMP/converted" --labels "$LABELS" --threshold "$THR" \
  <"$TMP/in.jsonl" >"$TMP/p_conv.jsonl" 2>"$TMP/p_conv.err" || { cat "$TMP/p_conv.err"; fail "predict on the converted checkpoint"; }
same_entities "$TMP/p_conv.jsonl" "converted checkpoint"

# --- 2. model_name a local directory
mkdir -p "$TMP/local"
cp "$PUB"/gliner_legacy/* "$TMP/local/"
sed -i "s#\"model_name\": \"[^\"]*\"#\"model_name\": \"$PUB/backbone\"#" "$TMP/local/gliner_config.json"
HF_HUB_CACHE=$TMP/empty HF_HUB_OFFLINE=1 T "$GLINER" predict --model "$TMP/local" --labels "$LABELS" --threshold "$THR" \
  <"$TMP/in.jsonl" >"$TMP/p_local.jsonl" 2>"$TMP/p_local.err" || { cat "$TMP/p_local.err"; fail "predict with a local backbone"; }
same_entities "$TMP/p_local.jsonl" "local backbone"

# a backbone that is nowhere: one line naming model_name and the cache
HF_HUB_CACHE=$TMP/empty HF_HUB_OFFLINE=1 T "$GLINER" predict --model "$PUB/gliner_legacy" --labels "$LABELS" "x" \
  >/dev/null 2>"$TMP/e_off" && fail "a missing backbone succeeded"
grep -q "model_name '$BACKBONE_ID'.*not in the Hugging Face cache.*HF_HUB_OFFLINE" "$TMP/e_off" || fail "missing backbone: $(cat "$TMP/e_off")"
[ "$(wc -l <"$TMP/e_off")" -eq 1 ] || fail "missing backbone: not one line: $(cat "$TMP/e_off")"

# --- 2b. the bi-encoder: text and label backbones (BERT, vocab.txt only) in the cache, no tokenizer in the checkpoint.
# The reference's text tokenizer drops [CLS]/[SEP] (transformers 5's add_bos/eos_token on a tokenizer with neither)
# while its label tokenizer keeps them: both must come out as it has them for the same entities.
for b in backbone_bert_text:tiny-bert-text backbone_bert_labels:tiny-bert-labels; do
  d=$HF_HUB_CACHE/models--acme-backbones--${b#*:}
  mkdir -p "$d/snapshots/$REV" "$d/refs"
  cp "$PUB/${b%%:*}"/* "$d/snapshots/$REV/"
  printf %s "$REV" >"$d/refs/main"
done
"$PY" -c 'import json,sys; [print(json.dumps({"text": t})) for t in json.load(open(sys.argv[1]))["texts"]]' \
  "$PUB/expected_bi.json" >"$TMP/in_bi.jsonl"
BI_LABELS=$("$PY" -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["labels"]))' "$PUB/expected_bi.json")
HF_HUB_OFFLINE=1 T "$GLINER" predict --model "$PUB/bi_legacy" --labels "$BI_LABELS" --threshold "$THR" \
  <"$TMP/in_bi.jsonl" >"$TMP/p_bi.jsonl" 2>"$TMP/p_bi.err" || { cat "$TMP/p_bi.err"; fail "predict on the bi-encoder"; }
EXPECTED=$PUB/expected_bi.json same_entities "$TMP/p_bi.jsonl" "bi-encoder, backbones in the cache"
HF_HUB_OFFLINE=1 T "$GLINER" info "$PUB/bi_legacy" >"$TMP/info_bi.txt" 2>/dev/null || fail "gliner info on the bi-encoder"
grep -q "^tokenizer  *.*tiny-bert-text.*: 603 tokens (WordPiece), 3 of them GLiNER's" "$TMP/info_bi.txt" || fail "info bi: $(cat "$TMP/info_bi.txt")"
grep -q "^label tokenizer  *.*tiny-bert-labels.*: 600 tokens" "$TMP/info_bi.txt" || fail "info bi: label tokenizer: $(cat "$TMP/info_bi.txt")"
# converted, it stands alone: both tokenizers (labels_tokenizer/ as ours write it), no backbone needed
HF_HUB_OFFLINE=1 T "$GLINER" convert "$PUB/bi_legacy" "$TMP/converted_bi" >/dev/null 2>"$TMP/conv_bi.err" || { cat "$TMP/conv_bi.err"; fail "gliner convert (bi)"; }
for f in tokenizer.json tokenizer_config.json labels_tokenizer/tokenizer.json labels_tokenizer/tokenizer_config.json; do
  [ -f "$TMP/converted_bi/$f" ] || fail "convert (bi): no $f"
done
HF_HUB_CACHE=$TMP/empty HF_HUB_OFFLINE=1 T "$GLINER" predict --model "$TMP/converted_bi" --labels "$BI_LABELS" --threshold "$THR" \
  <"$TMP/in_bi.jsonl" >"$TMP/p_bi_conv.jsonl" 2>"$TMP/p_bi_conv.err" || { cat "$TMP/p_bi_conv.err"; fail "predict on the converted bi-encoder"; }
EXPECTED=$PUB/expected_bi.json same_entities "$TMP/p_bi_conv.jsonl" "converted bi-encoder, no backbone"

# --- 2c. gliner train --model on the legacy checkpoint (backbone in the cache): its checkpoints carry the tokenizer
# it trained with (the backbone's, with GLiNER's tokens) and load with no backbone
printf '[{"tokenized_text": ["Barack", "Obama", "visited", "Paris", "."], "ner": [[0, 1, "person"], [3, 3, "location"]]}]\n' >"$TMP/train.json"
printf 'model:\n  name: "t"\ndata:\n  root_dir: %s/unused\n  train_data: "%s/train.json"\n  val_data_dir: "none"\ntraining:\n  prev_path: null\n  num_steps: 1\n  train_batch_size: 1\n  eval_every: 1\n  seed: 7\n' \
  "$TMP" "$TMP" >"$TMP/train.yaml"
HF_HUB_OFFLINE=1 T "$GLINER" train "$TMP/train.yaml" --model "$PUB/gliner_legacy" --output "$TMP/tr" --threads 1 >"$TMP/tr.log" 2>&1 ||
  { cat "$TMP/tr.log"; fail "gliner train --model on the legacy checkpoint"; }
ck=$TMP/tr/checkpoint-1
for f in model.safetensors gliner_config.json tokenizer.json tokenizer_config.json; do [ -f "$ck/$f" ] || fail "train checkpoint: no $f"; done
cmp -s "$ck/tokenizer.json" "$TMP/converted/tokenizer.json" || fail "train checkpoint: not the tokenizer convert writes"
HF_HUB_CACHE=$TMP/empty HF_HUB_OFFLINE=1 T "$GLINER" predict --model "$ck" --labels "$LABELS" "John Smith lives in Berlin" \
  >/dev/null 2>"$TMP/p_ck.err" || { cat "$TMP/p_ck.err"; fail "predict on the training checkpoint, no backbone"; }

# --- 3. a loopback Hub serving the checkpoint and the backbone (no tokenizer.json anywhere: 404s)
if "$GLINER" version 2>/dev/null | grep -q "^hub downloads: no"; then echo "SKIP (part 3): built without libcurl"; exit 0; fi
WWW=$TMP/www
mkdir -p "$WWW/acme/gliner-legacy/resolve/main" "$WWW/$BACKBONE_ID/resolve/main"
cp "$PUB"/gliner_legacy/* "$WWW/acme/gliner-legacy/resolve/main/"
cp "$PUB"/backbone/* "$WWW/$BACKBONE_ID/resolve/main/"
hub_start "$WWW" "$TMP/get.log" || fail "the HTTP server did not start"
export HF_ENDPOINT=$HUB_URL HF_HUB_CACHE=$TMP/hubcache
T "$GLINER" predict --model acme/gliner-legacy --labels "$LABELS" --threshold "$THR" \
  <"$TMP/in.jsonl" >"$TMP/p_hub.jsonl" 2>"$TMP/p_hub.err" || { cat "$TMP/p_hub.err"; fail "predict --model acme/gliner-legacy"; }
same_entities "$TMP/p_hub.jsonl" "loopback Hub"
GS=$HF_HUB_CACHE/models--acme--gliner-legacy/snapshots/main
BS=$HF_HUB_CACHE/models--${BACKBONE_ID/\//--}/snapshots/main
cmp -s "$GS/pytorch_model.bin" "$PUB/gliner_legacy/pytorch_model.bin" || fail "pytorch_model.bin not downloaded"
cmp -s "$BS/spm.model" "$PUB/backbone/spm.model" || fail "the backbone's spm.model not downloaded"
grep -qE "^/$BACKBONE_ID/resolve/main/(model.safetensors|pytorch_model.bin)" "$TMP/get.log" && fail "the backbone's weights were fetched"
grep -q "^/acme/gliner-legacy/resolve/main/spm.model" "$TMP/get.log" && fail "slow tokenizer files asked of a checkpoint without tokenizer_config.json"
# a second run is served from the cache: the server is stopped
hub_stop
T "$GLINER" predict --model acme/gliner-legacy --labels "$LABELS" --threshold "$THR" \
  <"$TMP/in.jsonl" >"$TMP/p_hub2.jsonl" 2>"$TMP/p_hub2.err" || { cat "$TMP/p_hub2.err"; fail "predict from the cache"; }
cmp -s "$TMP/p_hub.jsonl" "$TMP/p_hub2.jsonl" || fail "the cached run differs"
echo "ok"
