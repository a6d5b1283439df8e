# hub_server.sh -- sourced by CLI tests: a loopback "Hub" (python3 http.server) serving a directory laid out as
# ROOT/<owner>/<name>/resolve/<revision>/<file>, every GET path appended to a log.
#   hub_start ROOT LOG   starts it in the background; sets HUB_PID and HUB_URL (http://127.0.0.1:PORT); 1 on failure
#   hub_stop             stops it (safe to call twice)
# Needs $PY (python3) and $TMP (a scratch directory).
HUB_PID=""
hub_start() {
  cat >"$TMP/hub_server.py" <<'PYEOF'
import http.server, sys
root, log = sys.argv[1], sys.argv[2]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k): super().__init__(*a, directory=root, **k)
    def do_GET(self):
        with open(log, "a") as f: f.write(self.path + "\n")
        super().do_GET()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("Serving HTTP on 127.0.0.1 port %d" % s.server_address[1], flush=True)
s.serve_forever()
PYEOF
  "$PY" -u "$TMP/hub_server.py" "$1" "$2" >"$TMP/hub_server.log" 2>&1 &
  HUB_PID=$!
  local port="" _
  for _ in $(seq 100); do
    port=$(sed -n 's/.* port \([0-9][0-9]*\).*/\1/p' "$TMP/hub_server.log" | head -1)
    [ -n "$port" ] && break
    kill -0 "$HUB_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$TMP/hub_server.log"; return 1; }
  HUB_URL=http://127.0.0.1:$port
}
hub_stop() { if [ -n "$HUB_PID" ]; then kill "$HUB_PID" 2>/dev/null; wait "$HUB_PID" 2>/dev/null; HUB_PID=""; fi; }
