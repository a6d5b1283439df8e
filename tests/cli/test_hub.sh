#!/usr/bin/env bash
# test_hub.sh GLINER SRC -- a model named by a Hub repo id (owner/name) is fetched from HF_ENDPOINT into
# the HF cache and used from there: a loopback `python3 -m http.server` serves a fixture checkpoint in
# the Hub's URL layout (<owner>/<name>/resolve/main/<file>). Also: a missing repo (HTTP 404), a repo
# without tokenizer.json, HF_HUB_OFFLINE=1, and a second run served from the cache with the server stopped.
set -u
GLINER=$1 SRC=$2
FIX=$SRC/tests/fixtures/models/uni_span_deberta_markerV0
PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: no python3 for the HTTP server"; exit 77; }
if "$GLINER" version 2>/dev/null | grep -q "^hub downloads: no"; then echo "SKIP: built without libcurl"; exit 77; fi

TMP=$(mktemp -d)
[ -z "${KEEP_TMP:-}" ] || echo "keeping $TMP"
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""; fi
}
trap 'stop_server; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# the served tree: the whole checkpoint, and one without tokenizer.json
ROOT=$TMP/www
mkdir -p "$ROOT/acme/tiny/resolve/main" "$ROOT/acme/notok/resolve/main"
cp "$FIX"/gliner_config.json "$FIX"/model.safetensors "$FIX"/tokenizer.json "$FIX"/tokenizer_config.json "$ROOT/acme/tiny/resolve/main/"
cp "$FIX"/model.safetensors "$ROOT/acme/notok/resolve/main/"
# no tokenizer of its own, and a backbone (model_name) that the Hub does not have either
sed 's#"model_name": "[^"]*"#"model_name": "acme-backbones/missing"#' "$FIX"/gliner_config.json >"$ROOT/acme/notok/resolve/main/gliner_config.json"

# http.server with three extras: acme/redir/* answers 302 to acme/tiny/* with an X-Repo-Commit header
# (the Hub's LFS redirects and commit pinning), acme/cut/model.safetensors stops halfway through the
# body it announced, and an Authorization header is logged. Port 0: the OS picks a free port.
cat >"$TMP/server.py" <<'PYEOF'
import http.server, os, sys
root, log = sys.argv[1], sys.argv[2]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k): super().__init__(*a, directory=root, **k)
    def do_GET(self):
        if self.headers.get("Authorization"):
            with open(log, "a") as f: f.write(self.path + " " + self.headers["Authorization"] + "\n")
        if self.path.startswith("/acme/redir/") or self.path == "/acme/big/resolve/main/model.safetensors":
            target = self.path.replace("/acme/redir/", "/acme/tiny/").replace("/acme/big/", "/acme/tiny/")
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("X-Repo-Commit", "c0ffee0123456789c0ffee0123456789c0ffee01")
            if self.path.endswith("/model.safetensors"):
                real = os.path.getsize(os.path.join(root, target.lstrip("/")))
                self.send_header("X-Linked-Size", "1000" if "/acme/big/" in self.path else str(real))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/acme/stream/resolve/main/model.safetensors":
            data = open(os.path.join(root, "acme/tiny/resolve/main/model.safetensors"), "rb").read()
            self.send_response(200)
            self.end_headers()
            for i in range(0, len(data), 4096):
                self.wfile.write(data[i : i + 4096])
            self.close_connection = True
            return
        if self.path == "/acme/cut/resolve/main/model.safetensors":
            data = open(os.path.join(root, "acme/tiny/resolve/main/model.safetensors"), "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("Serving HTTP on 127.0.0.1 port %d" % s.server_address[1], flush=True)
s.serve_forever()
PYEOF
for r in cut big stream; do
  mkdir -p "$ROOT/acme/$r/resolve/main"
  cp "$FIX"/gliner_config.json "$FIX"/tokenizer.json "$ROOT/acme/$r/resolve/main/"
done
"$PY" -u "$TMP/server.py" "$ROOT" "$TMP/auth.log" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
PORT=""
for _ in $(seq 100); do  # at most 10 s
  PORT=$(sed -n 's/.* port \([0-9][0-9]*\).*/\1/p' "$TMP/server.log" | head -1)
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$TMP/server.log"; fail "the HTTP server did not start"; }

export HF_ENDPOINT=http://127.0.0.1:$PORT HF_HOME=$TMP/hf
unset HF_HUB_CACHE HF_TOKEN HF_HUB_OFFLINE XDG_CACHE_HOME
T() { timeout 120 "$@"; }

# info: same report as the local directory, but for the first line (the directory)
T "$GLINER" info acme/tiny >"$TMP/info_hub.txt" 2>"$TMP/info_hub.err" || { cat "$TMP/info_hub.err"; fail "gliner info acme/tiny"; }
T "$GLINER" info "$FIX" >"$TMP/info_dir.txt" 2>"$TMP/info_dir.err" || fail "gliner info on the fixture directory"
SNAP=$HF_HOME/hub/models--acme--tiny/snapshots/main
[ -f "$SNAP/model.safetensors" ] || fail "no $SNAP/model.safetensors after the download"
cmp -s "$SNAP/model.safetensors" "$FIX/model.safetensors" || fail "downloaded model.safetensors differs"
ls -A "$SNAP" | grep -qE "incomplete|\.tmp\." && fail "a temporary file was left in $SNAP"
diff <(sed 1d "$TMP/info_hub.txt" | sed "s#$SNAP#DIR#g") <(sed 1d "$TMP/info_dir.txt" | sed "s#$FIX#DIR#g") \
  || fail "gliner info: the Hub model and the directory differ"

# predict: same entities
TEXT="Dr. John Smith-Jones visited unbelievably crowded Berlin, yesterday!"
T "$GLINER" predict --model acme/tiny --labels person,location --threshold 0 "$TEXT" >"$TMP/p_hub.jsonl" 2>"$TMP/p.err" \
  || { cat "$TMP/p.err"; fail "gliner predict --model acme/tiny"; }
T "$GLINER" predict --model "$FIX" --labels person,location --threshold 0 "$TEXT" >"$TMP/p_dir.jsonl" 2>"$TMP/p_dir.err" || fail "predict on the directory"
grep -q '"label"' "$TMP/p_hub.jsonl" || fail "no entities at threshold 0: $(cat "$TMP/p_hub.jsonl")"
cmp -s "$TMP/p_hub.jsonl" "$TMP/p_dir.jsonl" || fail "predict: the Hub model and the directory differ"

# a missing repo: one line naming the URL and the status
T "$GLINER" info acme/nothere >/dev/null 2>"$TMP/e404" && fail "a missing repo succeeded"
grep -q "$HF_ENDPOINT/acme/nothere/resolve/main/gliner_config.json: HTTP 404" "$TMP/e404" || fail "404 error: $(cat "$TMP/e404")"
[ "$(wc -l <"$TMP/e404")" -eq 1 ] || fail "404 error is not one line: $(cat "$TMP/e404")"
# a repo without a tokenizer: the reference takes the backbone's (model_name), which is not on the Hub either
T "$GLINER" predict --model acme/notok --labels person "$TEXT" >/dev/null 2>"$TMP/enotok" && fail "a repo without any tokenizer succeeded"
grep -q "the tokenizer comes from model_name 'acme-backbones/missing'.*acme-backbones/missing/resolve/main/config.json: HTTP 404" "$TMP/enotok" \
  || fail "no-tokenizer error: $(cat "$TMP/enotok")"
[ "$(grep -vc ': info: ' "$TMP/enotok")" -eq 1 ] || fail "no-tokenizer error is not one line: $(cat "$TMP/enotok")"

# redirects are followed; X-Repo-Commit pins the snapshot and refs/main records it; HF_TOKEN is sent
HF_TOKEN=sekrit T "$GLINER" info acme/redir >/dev/null 2>"$TMP/eredir" || fail "redirected download: $(cat "$TMP/eredir")"
RSNAP=$HF_HOME/hub/models--acme--redir/snapshots/c0ffee0123456789c0ffee0123456789c0ffee01
cmp -s "$RSNAP/model.safetensors" "$FIX/model.safetensors" || fail "redirected download: no $RSNAP/model.safetensors"
[ "$(cat "$HF_HOME/hub/models--acme--redir/refs/main")" = c0ffee0123456789c0ffee0123456789c0ffee01 ] || fail "refs/main not written"
grep -q "^/acme/redir/resolve/main/gliner_config.json Bearer sekrit$" "$TMP/auth.log" || fail "HF_TOKEN not sent: $(cat "$TMP/auth.log" 2>&1)"

# a body cut short: an error naming the URL, and no model.safetensors (not even a partial one)
T "$GLINER" info acme/cut >/dev/null 2>"$TMP/ecut" && fail "a truncated download succeeded"
grep -q "$HF_ENDPOINT/acme/cut/resolve/main/model.safetensors" "$TMP/ecut" || fail "truncation error: $(cat "$TMP/ecut")"
CSNAP=$HF_HOME/hub/models--acme--cut/snapshots/main
[ -e "$CSNAP/model.safetensors" ] && fail "a truncated model.safetensors was left in the cache"
ls -A "$CSNAP" | grep -qE "incomplete|\.tmp\." && fail "a temporary file was left in $CSNAP"

# a body larger than the size the Hub announced (X-Linked-Size): cut off and refused, one line naming the URL
T "$GLINER" info acme/big >/dev/null 2>"$TMP/ebig" && fail "a body larger than announced was accepted"
[ "$(grep -vc ': info: ' "$TMP/ebig")" -eq 1 ] || fail "oversized body: the error is not one line: $(cat "$TMP/ebig")"
grep -q "$HF_ENDPOINT/acme/big/resolve/main/model.safetensors: the body is larger than the 1000 bytes the server announced (X-Linked-Size)" "$TMP/ebig" \
  || fail "oversized body: $(cat "$TMP/ebig")"
BSNAP=$HF_HOME/hub/models--acme--big/snapshots/c0ffee0123456789c0ffee0123456789c0ffee01
[ -e "$BSNAP/model.safetensors" ] && fail "an oversized model.safetensors was left in the cache"
ls -A "$HF_HOME/hub/models--acme--big/snapshots/"* | grep -q tmp && fail "a temporary file was left in the cache"
# no announced size: the hard cap (GLINER_HUB_MAX_BYTES lowers it here); without the cap the same body downloads
GLINER_HUB_MAX_BYTES=100000 T "$GLINER" info acme/stream >/dev/null 2>"$TMP/estream" && fail "a body over the hard cap was accepted"
grep -q "$HF_ENDPOINT/acme/stream/resolve/main/model.safetensors: larger than 100000 bytes, the limit for a file whose size the server does not announce" "$TMP/estream" \
  || fail "hard cap: $(cat "$TMP/estream")"
SSNAP=$HF_HOME/hub/models--acme--stream/snapshots/main
[ -e "$SSNAP/model.safetensors" ] && fail "a model.safetensors over the hard cap was left in the cache"
GLINER_HUB_MAX_BYTES=12k T "$GLINER" info acme/stream >/dev/null 2>"$TMP/eenv" && fail "a bad GLINER_HUB_MAX_BYTES was accepted"
grep -q "GLINER_HUB_MAX_BYTES: expected a positive number of bytes, found '12k'" "$TMP/eenv" || fail "bad cap: $(cat "$TMP/eenv")"
T "$GLINER" info acme/stream >/dev/null 2>"$TMP/estream2" || fail "a body of no announced size under the cap: $(cat "$TMP/estream2")"
cmp -s "$SSNAP/model.safetensors" "$FIX/model.safetensors" || fail "the streamed model.safetensors differs"

# offline, nothing cached: a clear error, no network
HF_HUB_OFFLINE=1 T "$GLINER" info acme/other >/dev/null 2>"$TMP/eoff" && fail "HF_HUB_OFFLINE=1 with an empty cache succeeded"
grep -q "HF_HUB_OFFLINE" "$TMP/eoff" || fail "offline error: $(cat "$TMP/eoff")"
grep -q "acme/other" "$TMP/eoff" || fail "offline error does not name the repo: $(cat "$TMP/eoff")"

# the server stops: the cache serves the second run (online and offline)
stop_server
T "$GLINER" predict --model acme/tiny --labels person,location --threshold 0 "$TEXT" >"$TMP/p_cache.jsonl" 2>"$TMP/p.err" \
  || { cat "$TMP/p.err"; fail "predict from the cache with the server stopped"; }
cmp -s "$TMP/p_cache.jsonl" "$TMP/p_dir.jsonl" || fail "predict from the cache differs"
HF_HUB_OFFLINE=1 T "$GLINER" info acme/tiny >/dev/null 2>&1 || fail "HF_HUB_OFFLINE=1 with the model cached failed"
# and a repo that was never fetched now fails on the connection, naming the URL
T "$GLINER" info acme/never >/dev/null 2>"$TMP/econn" && fail "a download with the server stopped succeeded"
grep -q "$HF_ENDPOINT/acme/never/resolve/main/gliner_config.json" "$TMP/econn" || fail "connection error: $(cat "$TMP/econn")"

# a cache laid out by huggingface_hub (refs/main -> snapshots/<commit>) is reused as is
HUBC=$TMP/hf2/hub/models--org--cached
mkdir -p "$HUBC/refs" "$HUBC/snapshots/0123456789abcdef0123456789abcdef01234567"
printf 0123456789abcdef0123456789abcdef01234567 >"$HUBC/refs/main"
cp "$FIX"/gliner_config.json "$FIX"/model.safetensors "$FIX"/tokenizer.json "$FIX"/tokenizer_config.json \
   "$HUBC/snapshots/0123456789abcdef0123456789abcdef01234567/"
HF_HOME=$TMP/hf2 T "$GLINER" info org/cached >/dev/null 2>"$TMP/e2" || fail "huggingface_hub's cache layout: $(cat "$TMP/e2")"
echo "PASS"
