#!/usr/bin/env bash
# The test command: installs what the tests need (RabbitMQ server and PostgreSQL, from Debian's packages) when
# missing, then runs the whole suite. Integration tests start their own private RabbitMQ nodes and PostgreSQL
# clusters on free loopback ports; nothing needs to be running beforehand. Extra arguments go to `dotnet test`.
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests use: the RabbitMQ server (integration tests start private nodes), PostgreSQL (the store's
# tests start private clusters with initdb and pg_ctl; the system cluster the package may start is not used),
# docker-compose and systemd-analyze (the deploy tests validate deploy/docker/compose.yaml and deploy/systemd with them).
MISSING=""
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || MISSING="$MISSING rabbitmq-server"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || MISSING="$MISSING postgresql"
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || MISSING="$MISSING docker-compose"
command -v systemd-analyze >/dev/null 2>&1 || MISSING="$MISSING systemd"
if [ -n "$MISSING" ]; then
  echo "test.sh: installing Debian packages the tests need:$MISSING"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a $SUDO apt-get install -y -qq --no-install-recommends $MISSING >/dev/null
  # The rabbitmq-server package starts a system broker when systemd runs; the tests do not use it.
fi

# The CLI tools and private nodes authenticate with this user's Erlang cookie.
if [ ! -f "$HOME/.erlang.cookie" ]; then
  head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20 > "$HOME/.erlang.cookie"
  chmod 400 "$HOME/.erlang.cookie"
fi

# One build, then three runs. The end-to-end project (tests/SyncWorker.Tests, the longest: mostly waiting on brokers,
# timers and retries) runs beside the other projects, which run one after another; its lines are prefixed "[e2e] ".
# The fault-injection suite runs worker processes, brokers and databases of its own: it runs after both, rather than
# beside them, so its load does not shift their timing checks, nor theirs its. All always run.
# Each project also writes a TRX report under its TestResults folder; the failed tests of every run are listed again at
# the very end, where a CI log's tail shows them.
find tests -path '*/TestResults/*.trx' -delete 2>/dev/null || true
status=0
dotnet build SyncWorker.sln --configuration Release || exit $?
e2e_status_file=$(mktemp)
(
  e2e=0
  dotnet test tests/SyncWorker.Tests --configuration Release --no-build --logger trx "$@" 2>&1 || e2e=$?
  echo "$e2e" > "$e2e_status_file"
) | sed -u 's/^/[e2e] /' &
e2e_pid=$!
for project in tests/*/*.Tests.csproj; do
  case "$project" in
    */SyncWorker.Tests/*|*/SyncWorker.FaultInjection.Tests/*) continue ;;
  esac
  dotnet test "$project" --configuration Release --no-build --logger trx "$@" || status=$?
done
wait "$e2e_pid" || true
e2e=$(cat "$e2e_status_file" 2>/dev/null || echo 1)
rm -f "$e2e_status_file"
[ "${e2e:-1}" -eq 0 ] || status=$e2e
dotnet test tests/SyncWorker.FaultInjection.Tests --configuration Release --no-build --logger trx "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "test.sh: the suite failed (exit $status). Failed tests:"
  find tests -path '*/TestResults/*.trx' -print0 2>/dev/null \
    | xargs -0 -r grep -ho '<UnitTestResult [^>]*outcome="Failed"[^>]*>' \
    | sed -E 's/.*testName="([^"]*)".*/  \1/' | sort | uniq
  # Then each failure's message (its first lines), so the log's tail says why, not only which.
  echo "test.sh: why they failed (the first lines of each message):"
  find tests -path '*/TestResults/*.trx' -print0 2>/dev/null | xargs -0 -r awk '
    /<UnitTestResult / { failed = ($0 ~ /outcome="Failed"/); name = $0; sub(/.*testName="/, "", name); sub(/".*/, "", name) }
    failed && /<Message>/ { inside = 1; lines = 0; print "  == " name; sub(/.*<Message>/, "") }
    inside {
      done = ($0 ~ /<\/Message>/); sub(/<\/Message>.*/, "")
      gsub(/&quot;/, "\""); gsub(/&apos;/, "\047"); gsub(/&lt;/, "<"); gsub(/&gt;/, ">"); gsub(/&amp;/, "\\&")
      if (lines < 14 && length($0) > 0) { print "     " substr($0, 1, 240); lines++ }
      if (done) { inside = 0; failed = 0 }
    }'
fi
exit "$status"
