#!/usr/bin/env bash
# Two zquic servers sharing keys behind nginx's UDP proxy (README "Running a fleet").
#   examples/fleet/start.sh [PORT]     nginx on 127.0.0.1:PORT (default 4433)
# Each server has its own QUIC-LB server ID and serves a page saying which one it is; both
# share the keys in keys.json and one certificate. Ctrl-C stops nginx and (gracefully) both.
# Needs nginx with the stream module (Debian: nginx-light libnginx-mod-stream) and openssl.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
port=${1:-4433}
cd "$root" # (tsx resolves from the working directory)
dir=$(mktemp -d "${TMPDIR:-/tmp}/zquic-fleet.XXXXXX")
module=
for m in /usr/lib/nginx/modules/ngx_stream_module.so /usr/share/nginx/modules/ngx_stream_module.so; do
  [ -f "$m" ] && module=$m && break
done
[ -n "$module" ] || { echo "start.sh: nginx's stream module is not installed" >&2; exit 1; }

# The shared keys: 32 random bytes each, in hex.
key() { openssl rand -hex 32; }
printf '{ "ticketKeys": ["%s"], "tokenKeys": ["%s"], "resetKey": "%s" }\n' "$(key)" "$(key)" "$(key)" \
  >"$dir/keys.json"
# One certificate for the whole fleet (self-signed here, for localhost and 127.0.0.1).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" \
  2>/dev/null

pids=()
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait
  rm -rf "$dir"
}
trap stop EXIT INT TERM

backends=()
for i in 1 2; do
  mkdir -p "$dir/www$i"
  echo "served by backend $i" >"$dir/www$i/index.html"
  backend_port=$((port + i))
  node --import tsx "$root/lib/cli/main.ts" server --host 127.0.0.1 --port "$backend_port" \
    --www "$dir/www$i" --cert "$dir/cert.pem" --key "$dir/key.pem" --early-data \
    --server-id "0$i" --fleet-keys "$dir/keys.json" &
  pids+=($!)
  backends+=("127.0.0.1:$backend_port")
done

sed -e "s|{{MODULE}}|$module|" -e "s|{{PREFIX}}|$dir|g" -e "s|{{LISTEN}}|127.0.0.1:$port|" \
  -e "s|{{BACKEND_A}}|${backends[0]}|" -e "s|{{BACKEND_B}}|${backends[1]}|" \
  "$root/examples/fleet/nginx.conf" >"$dir/nginx.conf"
nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
pids+=($!)

echo "nginx on 127.0.0.1:$port in front of ${backends[*]}; try (from $root):"
echo "  node --import tsx lib/cli/main.ts client https://127.0.0.1:$port/index.html --ca $dir/cert.pem --out ."
wait
