#!/usr/bin/env bash
# Broker operations per second while one target is dead and its circuit open, with a backlog of N deliveries.
#
#   docs/benchmarks/circuit-churn.sh [REPO] [N]
#
# REPO is a checkout whose worker is built (dotnet build src/SyncWorker -c Release); default: this repository. N: the
# backlog (default 5000). It starts a private RabbitMQ node (with the management plugin, on free loopback ports), the
# worker (Role=All, one target "dead" whose URL refuses connections, default retry and circuit settings), pauses the
# target, posts N signed webhooks (N deliveries queue up), resumes it, waits 60 s for the circuit to open and settle,
# then reads the queues' message_stats counters (publish, deliver_get, ack, redeliver) 30 s apart and prints their
# rates. Everything it starts is stopped at the end.
set -euo pipefail
REPO=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
N=${2:-5000}
WORK=$(mktemp -d /tmp/circuit-churn.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
AMQP=$(free_port); DIST=$(free_port); MGMT=$(free_port); HTTP=$(free_port); DEAD=$(free_port)
NODE="churn$$@localhost"
export RABBITMQ_NODENAME=$NODE RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$AMQP RABBITMQ_DIST_PORT=$DIST
export RABBITMQ_MNESIA_BASE=$WORK/mnesia RABBITMQ_LOG_BASE=$WORK/log RABBITMQ_ENABLED_PLUGINS_FILE=$WORK/enabled_plugins
export RABBITMQ_CONFIG_FILE=$WORK/rabbitmq RABBITMQ_ADVANCED_CONFIG_FILE=$WORK/advanced.config
echo "[rabbitmq_management]." > "$WORK/enabled_plugins"
printf 'management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = %s\ncollect_statistics_interval = 1000\n' "$MGMT" > "$WORK/rabbitmq.conf"
/usr/lib/rabbitmq/bin/rabbitmq-server > "$WORK/rabbitmq.out" 2>&1 &
RABBIT=$!
WORKER=
cleanup() {
  [ -n "$WORKER" ] && kill "$WORKER" 2>/dev/null && wait "$WORKER" 2>/dev/null || true
  /usr/lib/rabbitmq/bin/rabbitmqctl -n "$NODE" stop > /dev/null 2>&1 || kill "$RABBIT" 2>/dev/null || true
  wait "$RABBIT" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
API="http://guest:guest@127.0.0.1:$MGMT/api"
for _ in $(seq 1 120); do curl -sf "$API/overview" > /dev/null 2>&1 && break; sleep 1; done
curl -sf "$API/overview" > /dev/null

# The target is paused while the backlog builds (what `targets pause dead` does).
curl -sf -X PUT -H 'content-type: application/json' -d '{"durable":true,"arguments":{"x-max-length":0}}' "$API/queues/%2F/syncworker.paused.dead"

python3 - "$REPO/manifest/stripe-app.json" "$WORK/manifest.json" "http://127.0.0.1:$DEAD/fulfillment/" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["ui_extension"]["content_security_policy"]["connect-src"] = [sys.argv[3]]
json.dump(m, open(sys.argv[2], "w"))
PY
SECRET=whsec_circuit_churn_benchmark_0001
env ASPNETCORE_ENVIRONMENT=Testing ASPNETCORE_URLS="http://127.0.0.1:$HTTP" \
  RabbitMq__Uri="amqp://guest:guest@127.0.0.1:$AMQP/" Manifest__Path="$WORK/manifest.json" Stripe__WebhookSecrets__0=$SECRET \
  Fulfillment__Targets__0__Name=dead Fulfillment__Targets__0__Url="http://127.0.0.1:$DEAD/fulfillment/dead" \
  Fulfillment__Targets__0__Events__0='checkout.session.*' Fulfillment__Targets__0__Mode=live Fulfillment__Targets__0__Format=event \
  Fulfillment__Targets__0__SigningSecret="whsec_$(head -c 32 /dev/zero | base64)" Logging__LogLevel__Default=Warning \
  dotnet "$REPO/src/SyncWorker/bin/Release/net10.0/SyncWorker.dll" > "$WORK/worker.out" 2>&1 &
WORKER=$!
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$HTTP/health/ready" > /dev/null 2>&1 && break; sleep 1; done

python3 - "$REPO/tests/SyncWorker.Testing/Fixtures/events/checkout.session.completed.json" "$HTTP" "$SECRET" "$N" <<'PY'
import hashlib, hmac, http.client, json, sys, time, uuid
template, port, secret, n = open(sys.argv[1]).read(), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
event = json.loads(template)
conn = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    event["id"] = "evt_churn" + uuid.uuid4().hex[:20]
    body = json.dumps(event).encode()
    t = str(int(time.time()))
    sig = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    conn.request("POST", "/webhooks/stripe", body, {"Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={sig}"})
    r = conn.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"webhook {i}: HTTP {r.status}")
PY
for _ in $(seq 1 120); do
  READY=$(curl -sf "$API/queues/%2F/syncworker.target.dead" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("messages_ready",0))')
  [ "$READY" -ge "$N" ] && break; sleep 1
done
echo "backlog: $READY deliveries in syncworker.target.dead"
curl -sf -X DELETE "$API/queues/%2F/syncworker.paused.dead"
sleep 60

sample() {
  curl -sf "$API/queues/%2F?columns=name,message_stats" | python3 -c '
import json, sys
totals = {"publish": 0, "deliver_get": 0, "ack": 0, "redeliver": 0}
for q in json.load(sys.stdin):
    stats = q.get("message_stats") or {}
    for k in totals: totals[k] += stats.get(k, 0)
print(json.dumps(totals))'
}
A=$(sample); sleep 30; B=$(sample)
READY=$(curl -sf "$API/queues/%2F/syncworker.target.dead" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("messages_ready",0))')
python3 - "$A" "$B" "$READY" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rates = {k: (b[k] - a[k]) / 30 for k in a}
print("over 30 s with the circuit open, per second: " + ", ".join(f"{k} {v:.1f}" for k, v in rates.items()) + f"; total {sum(rates.values()):.1f} broker operations/s; {sys.argv[3]} ready in the target queue")
PY
