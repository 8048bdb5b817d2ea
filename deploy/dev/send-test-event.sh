#!/usr/bin/env bash
# Signs a Stripe event the way Stripe does (Stripe-Signature: t=<now>,v1=HMAC-SHA256(secret, "t.body")) and posts it
# to a running SyncWorker. For local development only.
#
#   deploy/dev/send-test-event.sh [event.json] [url]
#
# Defaults: the checkout.session.completed example from the test fixtures (with a fresh event id each run),
# http://localhost:5080/webhooks/stripe, and the development secret from src/SyncWorker/appsettings.Development.json.
# Override the secret with SYNCWORKER_WEBHOOK_SECRET=whsec_... (use the one `stripe listen` prints, for example).
# SYNCWORKER_LIVEMODE=false sends the event as a test-mode event ("livemode": false), for test-mode targets such as the
# example target of deploy/docker/compose.yaml.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
event="${1:-$root/tests/SyncWorker.Testing/Fixtures/events/checkout.session.completed.json}"
url="${2:-http://localhost:5080/webhooks/stripe}"
secret="${SYNCWORKER_WEBHOOK_SECRET:-whsec_development_only_do_not_use_in_production}"

command -v openssl >/dev/null || { echo "send-test-event: openssl is needed (apt-get install openssl)" >&2; exit 2; }
command -v curl >/dev/null || { echo "send-test-event: curl is needed (apt-get install curl)" >&2; exit 2; }
[ -f "$event" ] || { echo "send-test-event: no such file: $event" >&2; exit 2; }

body="$(mktemp)"
trap 'rm -f "$body"' EXIT
if [ -z "${1:-}" ]; then
  # A fresh id, so every run is a new event (Stripe's retries keep the id; new events get new ones).
  id="evt_dev$(od -An -N10 -tx1 /dev/urandom | tr -d ' \n')"
  sed "0,/\"id\": \"evt_[A-Za-z0-9]*\"/s//\"id\": \"$id\"/" "$event" > "$body"
else
  cp "$event" "$body"
fi
case "${SYNCWORKER_LIVEMODE:-}" in
  "") ;;
  false) sed -i 's/"livemode": *true/"livemode": false/g' "$body" ;;
  true) sed -i 's/"livemode": *false/"livemode": true/g' "$body" ;;
  *) echo "send-test-event: SYNCWORKER_LIVEMODE must be true or false" >&2; exit 2 ;;
esac

t="$(date +%s)"
v1="$( { printf '%s.' "$t"; cat "$body"; } | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)"
echo "POST $url ($(wc -c < "$body") bytes, signed at t=$t)" >&2
curl --silent --show-error --write-out '\nHTTP %{http_code}\n' -X POST "$url" \
  -H "Content-Type: application/json" \
  -H "Stripe-Signature: t=$t,v1=$v1" \
  --data-binary @"$body"
