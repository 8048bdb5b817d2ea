#!/usr/bin/env bash
# Creates (or updates) SyncWorker's RabbitMQ users and their permissions on the vhost `syncworker`. Idempotent: run it
# after the cluster's first start and whenever a password changes. Users are not in definitions.json on purpose:
# definitions are imported again on every boot, and an imported user gets the file's password hash back, which would
# undo every password set since (README.md, "Users and passwords").
#
#   SYNCWORKER_RABBITMQ_PASSWORD=… RABBITMQ_ADMIN_PASSWORD=… deploy/rabbitmq/create-users.sh
#
# Optional: RABBITMQ_NODE (rabbitmqctl -n, default: the local node), RABBITMQ_ERLANG_COOKIE (when this host's
# ~/.erlang.cookie is not the cluster's). Users are cluster-wide: run it against any one node.
set -euo pipefail
: "${SYNCWORKER_RABBITMQ_PASSWORD:?set SYNCWORKER_RABBITMQ_PASSWORD (hex only: it goes into an amqp:// URI)}"
: "${RABBITMQ_ADMIN_PASSWORD:?set RABBITMQ_ADMIN_PASSWORD}"

args=()
[ -n "${RABBITMQ_NODE:-}" ] && args+=(-n "$RABBITMQ_NODE")
[ -n "${RABBITMQ_ERLANG_COOKIE:-}" ] && args+=(--erlang-cookie "$RABBITMQ_ERLANG_COOKIE")
ctl() { rabbitmqctl "${args[@]}" "$@"; }

ctl await_startup
# The vhost comes from definitions.json; wait for the import in case this runs while the node is still booting.
for _ in $(seq 1 30); do
  ctl list_vhosts --silent name | grep -qx syncworker && break
  sleep 2
done
ctl list_vhosts --silent name | grep -qx syncworker || { echo "create-users: vhost 'syncworker' not found: were definitions.json imported?" >&2; exit 1; }

user() { # name password tags
  if ctl list_users --silent | cut -f1 | grep -qx "$1"; then
    ctl change_password "$1" "$2"
  else
    ctl add_user "$1" "$2"
  fi
  ctl set_user_tags "$1" $3
}

# The application: everything inside its own vhost and nothing outside it. MassTransit also declares fault exchanges
# and temporary queues whose names do not start with "syncworker.", so the vhost is the boundary, not a name pattern.
user syncworker "$SYNCWORKER_RABBITMQ_PASSWORD" ""
ctl set_permissions -p syncworker syncworker ".*" ".*" ".*"

# Operators: management UI and HTTP API.
user admin "$RABBITMQ_ADMIN_PASSWORD" administrator
ctl set_permissions -p syncworker admin ".*" ".*" ".*"

# No guest: definitions at boot keep RabbitMQ from creating it; delete one left from an earlier setup.
if ctl list_users --silent | cut -f1 | grep -qx guest; then ctl delete_user guest; fi
echo "create-users: users syncworker and admin are set on vhost syncworker"
