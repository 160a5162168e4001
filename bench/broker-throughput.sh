#!/usr/bin/env bash
# Throughput of --broker against the local pool (docs/distributed.md, "Measured throughput"):
# the Omniglot CNN at meta-batch 32 and 64, the local pool (--workers 2) and a coordinator with 1,
# 2 and 4 `reptile worker` processes of one thread each, all on this machine, through a private
# Redis on 127.0.0.1. Prints one line per case: meta-iterations/s from summary.json.
# Usage: bench/broker-throughput.sh DATA_DIR [META_ITERS] (after npm run build)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bench/broker-throughput.sh OMNIGLOT_DIR [META_ITERS]}
iters=${2:-30}
out=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
password=bench-$RANDOM$RANDOM
redis-server --port "$port" --bind 127.0.0.1 --requirepass "$password" --maxmemory-policy noeviction --save '' --appendonly no --daemonize yes --logfile "$out/redis.log" --pidfile "$out/redis.pid"
url="redis://:$password@127.0.0.1:$port"
cleanup() {
  pkill -P $$ 2>/dev/null || true
  redis_pid=$(cat "$out/redis.pid" 2>/dev/null || true)
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; while kill -0 "$redis_pid" 2>/dev/null; do sleep 0.1; done; fi
  rm -rf "$out"
}
trap cleanup EXIT
sleep 0.5
cli=(node dist/src/cli/main.js)
common=(train omniglot --data "$data" --model conv --meta-iters "$iters" --eval-interval 0 --eval-samples 10 --baseline none --checkpoint-interval 0)
rate() { node -e "console.log(JSON.parse(require('fs').readFileSync('$1/summary.json','utf8')).metaItersPerSecond.toFixed(2))"; }
for batch in 32 64; do
  "${cli[@]}" "${common[@]}" --meta-batch "$batch" --workers 2 --out "$out/local-$batch" >/dev/null 2>&1
  echo "meta-batch $batch, local pool --workers 2: $(rate "$out/local-$batch") meta-iterations/s"
  for workers in 1 2 4; do
    pids=()
    for ((w = 0; w < workers; w++)); do "${cli[@]}" worker --broker "$url" --threads 1 >"$out/worker-$w.log" 2>&1 & pids+=($!); done
    "${cli[@]}" "${common[@]}" --meta-batch "$batch" --broker "$url" --broker-chunk 4 --out "$out/broker-$batch-$workers" >/dev/null 2>&1
    kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
    echo "meta-batch $batch, --broker with $workers worker process(es) of 1 thread: $(rate "$out/broker-$batch-$workers") meta-iterations/s"
  done
done
