#!/usr/bin/env bash
# The test command: installs what the tests need (RabbitMQ server, from Debian's packages) when it is
# missing, then runs the whole suite. Integration tests start their own private RabbitMQ nodes on free
# loopback ports; nothing needs to be running beforehand. Extra arguments go to `dotnet test`.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  echo "test.sh: installing rabbitmq-server (Debian package) for the integration tests..."
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rabbitmq-server >/dev/null
  # The package starts a system broker when systemd runs; the tests do not use it.
fi

# The CLI tools and private nodes authenticate with this user's Erlang cookie.
if [ ! -f "$HOME/.erlang.cookie" ]; then
  head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20 > "$HOME/.erlang.cookie"
  chmod 400 "$HOME/.erlang.cookie"
fi

dotnet test SyncWorker.sln --configuration Release "$@"
