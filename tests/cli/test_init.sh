#!/usr/bin/env bash
# test_init.sh GLINER SRC -- `gliner init CONFIG OUTDIR` on the committed tiny backbone tests/fixtures/backbones/bert_tiny
# (a BertForPreTraining checkpoint: "bert."-prefixed keys, unused cls.* heads, an int64 position_ids buffer):
#   1. the directory: the reference's files, `gliner info` checks every tensor against the config, the GLiNER tokens
#      and class_token_index, `gliner tokenize` and `gliner predict` run on it; a JSON config works like the YAML;
#   2. seeds: the same seed gives byte-identical files, another seed other weights (same backbone, same tokenizer);
#   3. every architecture the trainer covers (uni span, uni token, bi span, bi token); a backbone with vocab.txt only;
#   4. bad input (missing backbone directory, an unsupported backbone family, a corrupted or truncated
#      model.safetensors, a config.json that does not fit the weights, no tokenizer files, an existing OUTDIR, a
#      decoder config): one-line errors, non-zero exit, no OUTDIR and no temporary directory left.
# Parity with the reference itself (config fields, tensors, init families, tokenizers): scripts/check_init.py.
set -u
GLINER=$1 SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
BB=$SRC/tests/fixtures/backbones/bert_tiny

yaml() { # yaml OUT EXTRA_MODEL_LINES...
  local out=$1; shift
  {
    echo "model:"
    echo "  model_name: \"$BB\""
    echo "  name: \"init-test\""
    echo "  hidden_size: 48"
    echo "  max_width: 4"
    echo "  max_len: 64"
    for l in "$@"; do echo "  $l"; done
    echo "data:"
    echo "  root_dir: $TMP/unused"
    echo "  train_data: \"$TMP/train.json\""
    echo "  val_data_dir: \"none\""
    echo "training:"
    echo "  prev_path: null"
  } >"$out"
}

# ---- 1. the directory
yaml "$TMP/span.yaml" 'span_mode: "markerV0"'
"$GLINER" init "$TMP/span.yaml" "$TMP/m" --seed 3 >"$TMP/init.out" 2>"$TMP/init.err" || { cat "$TMP/init.err"; fail "gliner init"; }
for f in gliner_config.json model.safetensors tokenizer.json tokenizer_config.json; do
  [ -f "$TMP/m/$f" ] || fail "no $f in the new directory"
done
ls -d "$TMP"/.m.tmp.* >/dev/null 2>&1 && fail "a temporary directory was left behind"
"$GLINER" info "$TMP/m" >"$TMP/info.out" 2>&1 || { cat "$TMP/info.out"; fail "gliner info rejects the new directory"; }
grep -q "UniEncoderSpan" "$TMP/info.out" || { cat "$TMP/info.out"; fail "gliner info: not a UniEncoderSpan"; }
# the tiny tokenizer has 600 tokens: [FLERT] 600, <<ENT>> 601, <<SEP>> 602; class_token_index = len - 2
grep -q '"class_token_index":[[:space:]]*601' "$TMP/m/gliner_config.json" || fail "class_token_index is not 601"
grep -q '"vocab_size":[[:space:]]*603' "$TMP/m/gliner_config.json" || fail "vocab_size is not 603"
for t in '\[FLERT\]' '<<ENT>>' '<<SEP>>'; do
  grep -q "\"content\": \"$t\"" "$TMP/m/tokenizer.json" || fail "tokenizer.json has no added token $t"
done
echo '{"text": "Marie Curie lived in Paris .", "labels": ["person", "city"]}' |
  "$GLINER" tokenize --model "$TMP/m" >"$TMP/tok.out" 2>&1 || { cat "$TMP/tok.out"; fail "gliner tokenize"; }
grep -q '"input_ids": *\[601,[0-9, ]*,601,[0-9, ]*,602,' "$TMP/tok.out" || { cat "$TMP/tok.out"; fail "the prompt is not <<ENT>> person <<ENT>> city <<SEP>> (601 .. 601 .. 602)"; }
"$GLINER" predict --model "$TMP/m" --labels "person,city" --threshold 0.5 "Marie Curie lived in Paris ." >"$TMP/pred.out" 2>"$TMP/pred.err" ||
  { cat "$TMP/pred.err"; fail "gliner predict on the new directory"; }
[ "$(wc -l <"$TMP/pred.out")" = 1 ] && grep -q '"entities"' "$TMP/pred.out" || { cat "$TMP/pred.out"; fail "gliner predict output"; }
printf '{"model_name": "%s", "name": "init-test", "hidden_size": 48, "max_width": 4, "max_len": 64, "span_mode": "markerV0"}\n' "$BB" >"$TMP/span.json"
"$GLINER" init "$TMP/span.json" "$TMP/mj" --seed 3 >/dev/null 2>&1 || fail "gliner init with a JSON config"
cmp -s "$TMP/m/model.safetensors" "$TMP/mj/model.safetensors" || fail "the JSON config gives other weights than the same YAML"
echo "ok: a complete directory (gliner info, tokenize, predict), class_token_index 601, YAML and JSON configs agree"

# ---- 2. seeds
"$GLINER" init "$TMP/span.yaml" "$TMP/m_same" --seed 3 >/dev/null 2>&1 || fail "gliner init (seed 3 again)"
for f in model.safetensors gliner_config.json tokenizer.json tokenizer_config.json; do
  cmp -s "$TMP/m/$f" "$TMP/m_same/$f" || fail "seed 3 twice: $f differs"
done
"$GLINER" init "$TMP/span.yaml" "$TMP/m_other" --seed 4 >/dev/null 2>&1 || fail "gliner init (seed 4)"
cmp -s "$TMP/m/model.safetensors" "$TMP/m_other/model.safetensors" && fail "seeds 3 and 4 give the same weights"
cmp -s "$TMP/m/tokenizer.json" "$TMP/m_other/tokenizer.json" || fail "the tokenizer depends on the seed"
echo "ok: seed 3 twice is byte-identical, seed 4 differs"

# ---- 3. every architecture the trainer covers
yaml "$TMP/token.yaml" 'span_mode: "token_level"'
yaml "$TMP/bi_span.yaml" 'span_mode: "markerV0"' "labels_encoder: \"$BB\""
yaml "$TMP/bi_token.yaml" 'span_mode: "token_level"' "labels_encoder: \"$BB\"" 'post_fusion_schema: "l2l-l2t"'
for a in token:UniEncoderToken bi_span:BiEncoderSpan bi_token:BiEncoderToken; do
  n=${a%%:*} cls=${a#*:}
  "$GLINER" init "$TMP/$n.yaml" "$TMP/m_$n" >"$TMP/$n.err" 2>&1 || { cat "$TMP/$n.err"; fail "gliner init $n"; }
  "$GLINER" info "$TMP/m_$n" >"$TMP/$n.info" 2>&1 || { cat "$TMP/$n.info"; fail "gliner info $n"; }
  grep -q "$cls" "$TMP/$n.info" || { cat "$TMP/$n.info"; fail "$n: not a $cls"; }
  "$GLINER" predict --model "$TMP/m_$n" --labels "person,city" "Marie Curie lived in Paris ." >/dev/null 2>"$TMP/$n.perr" ||
    { cat "$TMP/$n.perr"; fail "gliner predict $n"; }
done
[ -f "$TMP/m_bi_span/labels_tokenizer/tokenizer.json" ] || fail "bi-encoder: no labels_tokenizer/tokenizer.json"
grep -q '"class_token_index":[[:space:]]*-1' "$TMP/m_bi_span/gliner_config.json" || fail "bi-encoder: class_token_index is not -1 (the reference does not resize bi-encoders)"
echo "ok: UniEncoderToken, BiEncoderSpan, BiEncoderToken (init, info, predict)"

# ---- 4. bad input: one line on stderr, exit 1, nothing at OUTDIR
bad() { # bad NAME CONFIG PATTERN
  local name=$1 cfg=$2 pat=$3 out="$TMP/out_$1"
  "$GLINER" init "$cfg" "$out" >"$TMP/bad.out" 2>"$TMP/bad.err"
  local rc=$?
  [ $rc = 1 ] || { cat "$TMP/bad.err"; fail "$name: exit $rc, expected 1"; }
  [ "$(wc -l <"$TMP/bad.err")" = 1 ] || { cat "$TMP/bad.err"; fail "$name: expected a one-line error"; }
  grep -q -- "$pat" "$TMP/bad.err" || { cat "$TMP/bad.err"; fail "$name: the error does not say '$pat'"; }
  [ -e "$out" ] && fail "$name: $out was created"
  ls -d "$(dirname "$out")/.$(basename "$out")".tmp.* >/dev/null 2>&1 && fail "$name: a temporary directory was left behind"
  echo "ok: $name -> $(cat "$TMP/bad.err")"
}
backbone() { # backbone NAME: a writable copy of the fixture backbone
  cp -rL "$BB" "$TMP/$1"
  chmod -R u+w "$TMP/$1"
}
sub_yaml() { # sub_yaml OUT BACKBONE_DIR
  sed "s#$BB#$2#" "$TMP/span.yaml" >"$1"
}

sub_yaml "$TMP/nodir.yaml" "$TMP/no/such/backbone"
bad "missing backbone directory" "$TMP/nodir.yaml" "no/such/backbone': no such directory"

backbone roberta
sed -i 's/"model_type": "bert"/"model_type": "roberta"/' "$TMP/roberta/config.json"
sub_yaml "$TMP/roberta.yaml" "$TMP/roberta"
bad "unsupported backbone family" "$TMP/roberta.yaml" 'model_type "roberta" is not supported'

backbone trunc
head -c 5000 "$BB/model.safetensors" >"$TMP/trunc/model.safetensors"
sub_yaml "$TMP/trunc.yaml" "$TMP/trunc"
bad "truncated model.safetensors" "$TMP/trunc.yaml" "trunc/model.safetensors"

backbone corrupt
printf '\377\377\377\377\377\377\377\177' | dd of="$TMP/corrupt/model.safetensors" conv=notrunc 2>/dev/null
sub_yaml "$TMP/corrupt.yaml" "$TMP/corrupt"
bad "corrupted model.safetensors header" "$TMP/corrupt.yaml" "corrupt/model.safetensors"

backbone wide
sed -i 's/"intermediate_size": 64/"intermediate_size": 96/' "$TMP/wide/config.json"
sub_yaml "$TMP/wide.yaml" "$TMP/wide"
bad "config.json that does not fit the weights" "$TMP/wide.yaml" "shape \[64,32\], expected \[96,32\]"

backbone notok
rm "$TMP/notok/tokenizer.json" "$TMP/notok/vocab.txt"
sub_yaml "$TMP/notok.yaml" "$TMP/notok"
bad "no tokenizer files" "$TMP/notok.yaml" "notok: no tokenizer.json, and vocab.txt (for BertTokenizer) is missing"

# a backbone as many on the Hub are (vocab.txt, no tokenizer.json): the tokenizer is built from the vocabulary,
# and the new model tokenizes as the one made from the same backbone with its tokenizer.json
# (against the reference itself: scripts/check_init.py, cases *_slow_tokenizer*)
backbone slowtok
rm "$TMP/slowtok/tokenizer.json"
sub_yaml "$TMP/slowtok.yaml" "$TMP/slowtok"
"$GLINER" init "$TMP/slowtok.yaml" "$TMP/m_slowtok" --seed 3 >/dev/null 2>"$TMP/slowtok.err" || { cat "$TMP/slowtok.err"; fail "gliner init on a backbone with vocab.txt only"; }
[ -f "$TMP/m_slowtok/tokenizer.json" ] || fail "slow backbone: no tokenizer.json written"
echo '{"text": "Marie Curie lived in Paris, naïvely ; 東京 !", "labels": ["person", "city"]}' |
  "$GLINER" tokenize --model "$TMP/m_slowtok" >"$TMP/tok_slow.out" 2>&1 || { cat "$TMP/tok_slow.out"; fail "gliner tokenize (slow backbone)"; }
echo '{"text": "Marie Curie lived in Paris, naïvely ; 東京 !", "labels": ["person", "city"]}' |
  "$GLINER" tokenize --model "$TMP/m" >"$TMP/tok_fast.out" 2>&1 || fail "gliner tokenize"
cmp -s "$TMP/tok_slow.out" "$TMP/tok_fast.out" || { cat "$TMP/tok_slow.out" "$TMP/tok_fast.out"; fail "slow backbone: other ids"; }
echo "ok: a backbone with vocab.txt only"

backbone badjson
echo '{"model_type": "bert", "hidden_size": ' >"$TMP/badjson/config.json"
sub_yaml "$TMP/badjson.yaml" "$TMP/badjson"
bad "config.json not valid JSON" "$TMP/badjson.yaml" "badjson/config.json:[0-9]*:[0-9]*: not valid JSON"

yaml "$TMP/dec.yaml" 'span_mode: "markerV0"' "labels_decoder: \"$BB\"" 'decoder_mode: "span"'
bad "decoder model" "$TMP/dec.yaml" "labels_decoder: gliner init builds"

mkdir "$TMP/out_exists"
"$GLINER" init "$TMP/span.yaml" "$TMP/out_exists" >/dev/null 2>"$TMP/bad.err" && fail "an existing OUTDIR was accepted"
grep -q "already exists" "$TMP/bad.err" || { cat "$TMP/bad.err"; fail "existing OUTDIR: no 'already exists'"; }
[ -z "$(ls -A "$TMP/out_exists")" ] || fail "an existing OUTDIR was written into"
echo "ok: existing OUTDIR refused"
# ---- a Hub id found in the Hugging Face cache (refs/main -> snapshots/<commit>), never the network
H=$TMP/hfcache/models--acme--tiny
mkdir -p "$H/snapshots/c0ffee" "$H/refs"
cp -L "$BB"/* "$H/snapshots/c0ffee/"
echo c0ffee >"$H/refs/main"
printf '{"model_name": "acme/tiny", "span_mode": "markerV0", "hidden_size": 32, "max_width": 4}\n' >"$TMP/hub.json"
HF_HUB_CACHE=$TMP/hfcache "$GLINER" init "$TMP/hub.json" "$TMP/out_hub" >/dev/null 2>&1 || fail "a Hub id in the cache"
[ -f "$TMP/out_hub/model.safetensors" ] || fail "a Hub id in the cache: no model.safetensors"
printf '{"model_name": "acme/absent", "span_mode": "markerV0", "hidden_size": 32, "max_width": 4}\n' >"$TMP/hub2.json"
HF_HUB_OFFLINE=1 HF_HUB_CACHE=$TMP/hfcache "$GLINER" init "$TMP/hub2.json" "$TMP/out_hub2" >/dev/null 2>"$TMP/hub2.err" && fail "an absent Hub id was accepted"
grep -q "not in the Hugging Face cache" "$TMP/hub2.err" || { cat "$TMP/hub2.err"; fail "absent Hub id: message"; }
echo "ok: Hub ids from the cache"

# ---- a backbone on a loopback Hub, as from_pretrained(model_name) downloads it: config, vocab.txt (no
# tokenizer.json there), weights; then the same init from the cache with the server stopped
PY=$(command -v python3 || true)
if [ -z "$PY" ] || "$GLINER" version 2>/dev/null | grep -q "^hub downloads: no"; then
  echo "SKIP (Hub download): no python3 or no libcurl"
else
  . "$SRC/tests/cli/hub_server.sh"
  trap 'hub_stop; rm -rf "$TMP"' EXIT
  W=$TMP/www/acme/hubbed/resolve/main
  mkdir -p "$W"
  cp -L "$BB"/config.json "$BB"/model.safetensors "$BB"/vocab.txt "$BB"/tokenizer_config.json "$W/"
  hub_start "$TMP/www" "$TMP/get.log" || fail "the HTTP server did not start"
  printf '{"model_name": "acme/hubbed", "span_mode": "markerV0", "hidden_size": 48, "max_width": 4, "max_len": 64}\n' >"$TMP/hub3.json"
  HF_ENDPOINT=$HUB_URL HF_HUB_CACHE=$TMP/hfcache3 "$GLINER" init "$TMP/hub3.json" "$TMP/out_hub3" --seed 3 >/dev/null 2>"$TMP/hub3.err" ||
    { cat "$TMP/hub3.err"; fail "a backbone downloaded from the Hub"; }
  grep -q "^/acme/hubbed/resolve/main/model.safetensors" "$TMP/get.log" || fail "the backbone's weights were not fetched"
  hub_stop
  HF_ENDPOINT=$HUB_URL HF_HUB_CACHE=$TMP/hfcache3 "$GLINER" init "$TMP/hub3.json" "$TMP/out_hub3b" --seed 3 >/dev/null 2>"$TMP/hub3.err" ||
    { cat "$TMP/hub3.err"; fail "the downloaded backbone from the cache"; }
  cmp -s "$TMP/out_hub3/model.safetensors" "$TMP/out_hub3b/model.safetensors" || fail "the cached backbone gave other weights"
  cmp -s "$TMP/out_hub3/tokenizer.json" "$TMP/m_slowtok/tokenizer.json" || fail "the downloaded backbone's tokenizer differs"
  echo "ok: a backbone downloaded from a (loopback) Hub"
fi
echo "all init tests passed"
