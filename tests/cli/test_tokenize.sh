#!/usr/bin/env bash
# test_tokenize.sh GLINER SRC -- `gliner tokenize` writes the encoder's input exactly as the reference builds
# it: for every fixture checkpoint with reference/inputs.json, every case's texts (with their labels, and
# relations for relex models) are tokenized one per line and compared with the reference batch rows
# (input_ids, attention_mask, words_mask up to the row's unpadded length), its words and prompt lengths.
# uni_span_deberta_markerV0 must be among them. Then: --max-len truncation, and bad lines (stdin:LINE error,
# exit 1, nothing on stdout). Needs python3 for the JSON comparison (exit 77 = skipped without it).
set -u
GLINER=$1 SRC=$2
PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: no python3"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$PY" - "$GLINER" "$SRC" <<'PYEOF' || fail "parity with the reference inputs"
import glob, json, os, subprocess, sys
gliner, src = sys.argv[1], sys.argv[2]
checked, bad = [], 0
for f in sorted(glob.glob(os.path.join(src, "tests/fixtures/models/*/reference/inputs.json"))):
    model = os.path.dirname(os.path.dirname(f))
    name = os.path.basename(model)
    cases = json.load(open(f))["cases"]
    for cname, c in sorted(cases.items()):
        if "batch" not in c or "input_ids" not in c["batch"]:
            continue
        texts, labels, rels = c["texts"], c["labels"], c.get("relations")
        per = lambda v, i: v[i] if v and isinstance(v[0], list) else v
        lines = []
        for i, t in enumerate(texts):
            o = {"text": t, "labels": per(labels, i)}
            if rels is not None:
                o["relations"] = per(rels, i)
            lines.append(json.dumps(o))
        p = subprocess.run([gliner, "tokenize", "--model", model], input="\n".join(lines) + "\n",
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            print(f"{name}/{cname}: exit {p.returncode}: {p.stderr.strip()}"); bad += 1; continue
        out = [json.loads(l) for l in p.stdout.splitlines()]
        if len(out) != len(texts):
            print(f"{name}/{cname}: {len(out)} lines for {len(texts)} texts"); bad += 1; continue
        b = c["batch"]
        for i, o in enumerate(out):
            L = sum(b["attention_mask"][i])
            want = {"index": i, "input_ids": b["input_ids"][i][:L], "attention_mask": [1] * L,
                    "words_mask": b["words_mask"][i][:L]}
            if "prompt_lengths" in c:
                want["prompt_length"] = c["prompt_lengths"][i]
            got_words = [[w["text"], w["start"], w["end"]] for w in o["words"]]
            ref_words = [list(w) for w in c["words"][i]]
            want_trunc = len(ref_words) - len(got_words)
            for k, v in want.items():
                if o.get(k) != v:
                    print(f"{name}/{cname}/text {i}: {k}: got {o.get(k)}, expected {v}"); bad += 1
            if got_words != ref_words[: len(got_words)] or o["truncated"] != want_trunc:
                print(f"{name}/{cname}/text {i}: words differ: {got_words} vs {ref_words}"); bad += 1
            tb = texts[i].encode()
            for w in o["words"]:
                if tb[w["byte_start"]:w["byte_end"]].decode() != w["text"] or texts[i][w["start"]:w["end"]] != w["text"]:
                    print(f"{name}/{cname}/text {i}: offsets of {w}"); bad += 1
        checked.append(f"{name}/{cname}")
if not any(x.startswith("uni_span_deberta_markerV0/main") for x in checked):
    print("uni_span_deberta_markerV0/main was not checked"); bad += 1
print(f"{len(checked)} cases checked, {bad} differences")
sys.exit(1 if bad else 0)
PYEOF

M=$SRC/tests/fixtures/models/uni_span_deberta_markerV0
# --max-len: words past it are dropped and counted
echo '{"text": "one two three four five", "labels": ["x"]}' | "$GLINER" tokenize --model "$M" --max-len 3 >"$TMP/t.jsonl" 2>"$TMP/t.err" \
  || fail "--max-len 3: $(cat "$TMP/t.err")"
"$PY" -c 'import json,sys; o=json.loads(open(sys.argv[1]).read()); assert o["truncated"]==2 and [w["text"] for w in o["words"]]==["one","two","three"], o' "$TMP/t.jsonl" \
  || fail "--max-len 3 output: $(cat "$TMP/t.jsonl")"

# bad lines: one-line error naming the line, exit 1, nothing printed (even for the good lines before it)
check_bad() {  # INPUT EXPECTED-ERROR-SUBSTRING
  printf '%b' "$1" | "$GLINER" tokenize --model "$M" >"$TMP/o" 2>"$TMP/e"
  local rc=$?
  [ $rc -eq 1 ] || fail "input '$1': exit $rc, expected 1"
  [ -s "$TMP/o" ] && fail "input '$1': printed $(cat "$TMP/o")"
  [ "$(wc -l <"$TMP/e")" -eq 1 ] || fail "input '$1': error is not one line: $(cat "$TMP/e")"
  grep -qF "$2" "$TMP/e" || fail "input '$1': error '$(cat "$TMP/e")' lacks '$2'"
}
check_bad '{"text": "ok", "labels": ["a"]}\n\n{"text": "x", "labels": "a"}\n' 'gliner tokenize: stdin:3: "labels": expected a list of strings'
check_bad '{"text": "ok", "labels": ["a"]}\nnot json\n' 'stdin:2: expected {"text": string, "labels": [string, ...]}'
check_bad '{"text": "ok", "labels": ["a"]} trailing\n' 'stdin:1: expected'
check_bad '{"text": "ok"}\n' 'stdin:1: "labels": expected a list of strings'
check_bad '{"text": "bad \xff utf8", "labels": ["a"]}\n' 'stdin:1: '
"$GLINER" tokenize >/dev/null 2>&1 </dev/null; [ $? -eq 2 ] || fail "no --model: expected exit 2"
echo PASS
