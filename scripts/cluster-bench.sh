#!/usr/bin/env bash
# Ingest throughput of a local distributed Warden: its own nats-server (port 14222), the machine's
# PostgreSQL (schema warden_bench, dropped first), one api process, NWORKER workers and NINGEST
# ingest processes, each ingest process loaded by its own ingestbench (16 connections, 100 × 1 KB).
# Prints each ingest's rate and latency, then how long the appender and workers took to drain.
# usage: scripts/cluster-bench.sh NINGEST NWORKER DURATION
set -u
NI=${1:-1}; NW=${2:-1}; DUR=${3:-15s}
B=${B:-$(mktemp -d)}; rm -rf $B/run; mkdir -p $B/run
( cd "$(dirname "$0")/.." && go build -o $B/warden ./cmd/warden && go build -o $B/ingestbench ./cmd/ingestbench ) || exit 1
/usr/sbin/nats-server -a 127.0.0.1 -p 14222 -js -sd $B/run/nats >$B/run/nats.log 2>&1 & NP=$!
psql -q -h 127.0.0.1 -U postgres test -c "DROP SCHEMA IF EXISTS warden_bench CASCADE; CREATE SCHEMA warden_bench" 
cat > $B/run/w.yaml <<Y
store: {driver: postgres, dsn: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=warden_bench"}
bus: {driver: nats, url: "nats://127.0.0.1:14222"}
Y
export WARDEN_ADMIN_TOKEN=adm-0123456789abcdef WARDEN_INGEST_TOKEN=ing-0123456789abcdef
sleep 0.5
pids=()
start() { $B/warden serve --role $1 --config $B/run/w.yaml --data $B/run/$2 --listen 127.0.0.1:$3 --gateway-listen off 2>$B/run/$2.log >/dev/null & pids+=($!); }
start api api 17800
for i in $(seq 1 $NW); do start worker w$i $((17810+i)); done
for i in $(seq 1 $NI); do start ingest i$i $((17820+i)); done
sleep 3
for i in $(seq 1 $NI); do
  $B/ingestbench -url http://127.0.0.1:$((17820+i)) -token $WARDEN_INGEST_TOKEN -duration $DUR -c 16 > $B/run/bench$i.txt 2>&1 &
done
wait $(jobs -p | tail -n $NI) 2>/dev/null
sleep 0.2
for i in $(seq 1 $NI); do cat $B/run/bench$i.txt | grep -iE "events/s|p50|p99" ; done
t0=$(date +%s.%N)
for k in $(seq 1 600); do
  body=$(curl -s -H "Authorization: Bearer $WARDEN_ADMIN_TOKEN" http://127.0.0.1:17800/readyz)
  echo "$body" | grep -q '"index_lag":0,' && echo "$body" | grep -q '"append_lag":0' && break
  sleep 0.5
done
echo "drained after $(echo "$(date +%s.%N) - $t0" | bc) s: $body"
psql -qAt -h 127.0.0.1 -U postgres test -c "select count(*) from warden_bench.warden_events"
for p in "${pids[@]}"; do kill $p; done; wait "${pids[@]}" 2>/dev/null
kill $NP; wait $NP 2>/dev/null
