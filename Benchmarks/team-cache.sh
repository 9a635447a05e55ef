#!/usr/bin/env bash
# The team cache on loopback (docs/benchmarks.md, "Team cache"): the bundled pipeline's cold run
# without a remote and with one that it uploads to (alternating, ROUNDS times), then a fresh clone
# against the warm remote. Starts nginx on a free loopback port in a temporary folder and stops it by PID.
# Usage: Benchmarks/team-cache.sh [path/to/shrink] (default: .build/release/shrink)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
shrink=${1:-$repo/.build/release/shrink}
rounds=${ROUNDS:-3}
work=$(mktemp -d /tmp/shrink-bench-cache.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx/data" "$work/nginx/tmp"
cat > "$work/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:$port;
        root $work/nginx/data;
        location / { dav_methods PUT DELETE; create_full_put_path on; dav_access user:rw group:r all:r; }
    }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5
url=http://127.0.0.1:$port

clone() {
  local d=$work/$1
  mkdir -p "$d/.git" "$d/pipelines/recipes" "$d/Examples/lenet-mnist"
  for f in pipelines/lenet-mnist.yaml pipelines/recipes/lowrank-cnn.yaml Examples/lenet-mnist/model.onnx \
           Examples/lenet-mnist/val.npz Examples/lenet-mnist/calib.npz; do cp "$repo/$f" "$d/$f"; done
  echo "$d"
}
# seconds executed cached remote-json
measure() {
  local dir=$1; shift
  (cd "$dir" && "$shrink" run pipelines/lenet-mnist.yaml --json "$@" 2>/dev/null | tail -1) |
    python3 -c "import json,sys; o=json.load(sys.stdin); print('%.2f s, %d computed, %d cached, remote %s' % (o['seconds'], o['executed'], o['cached'], o.get('remote')))"
}

echo "load before: $(uptime)"
for r in $(seq 1 "$rounds"); do
  rm -rf "$work/nginx/data/"*
  # Alternating which goes first, so neither always runs on a warmer (or busier) machine.
  if [ $((r % 2)) -eq 1 ]; then
    echo "round $r cold, local only:        $(measure "$(clone local$r)" --no-remote-cache)"
    echo "round $r cold, uploading:         $(measure "$(clone upload$r)" --remote-cache "$url")"
  else
    echo "round $r cold, uploading:         $(measure "$(clone upload$r)" --remote-cache "$url")"
    echo "round $r cold, local only:        $(measure "$(clone local$r)" --no-remote-cache)"
  fi
done
du -sb "$work/nginx/data" | awk '{printf "server holds %.1f MiB\n", $1/1048576}'
echo "fresh clone, warm remote:         $(measure "$(clone fresh)" --remote-cache "$url")"
echo "same clone again:                 $(measure "$work/fresh" --remote-cache "$url")"
echo "load after: $(uptime)"
