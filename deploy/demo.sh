#!/usr/bin/env bash
# Latchkey demo on one machine, against the fake Atlassian provider.
#
#   deploy/demo.sh up       install what is missing (root), build, start
#                           PostgreSQL + fake provider + lighttpd in var/demo
#                           and a webhook deliverer (`latchkey events`),
#                           create a "confluence" profile, a bot key and an
#                           authorization link, print how to try them
#   deploy/demo.sh status   is it running? (and the same instructions again)
#   deploy/demo.sh down     stop everything (logs stay in var/demo)
#
# Works from any checkout, also one below root's home (mode 0700), which
# the postgres user cannot enter: tests/stack.py then runs the stack in a
# directory of its own in /tmp and links var/demo/* to it (see its header).
#
# Everything listens on 127.0.0.1 only: open the link in a browser on this
# machine.  The stack keeps running in the background after `up` returns.
# LATCHKEY_DEMO_BIN=DIR uses already built programs from DIR (no build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=SCRIPTDIR/common.sh
. deploy/common.sh

demo_dir="$lk_root/var/demo"
info="$lk_root/var/demo-info.txt"
stack() { python3 "$lk_root/tests/stack.py" "$@"; }

up() {
    lk_ensure_packages
    local bindir="${LATCHKEY_DEMO_BIN:-}"
    if [ -z "$bindir" ]; then
        lk_build build
        bindir="$lk_root/build/bin"
    fi
    mkdir -p "$lk_root/var"
    if stack status --dir "$demo_dir" >/dev/null 2>&1; then
        lk_log "the demo is already running; 'deploy/demo.sh down' first to start afresh"
        status
        return 0
    fi
    # 4 processes per route: a crowd on one connection takes at most
    # 1 + refresh_waiters (3) of them, leaving room for everyone else.
    stack up --dir "$demo_dir" --bin "$bindir" --source "$lk_root" --force --procs 4 >/dev/null
    ln -sfn demo/stack.env "$lk_root/var/stack.env"
    set -a
    # shellcheck disable=SC1091
    . "$demo_dir/stack.env"
    set +a
    local lk="$LATCHKEY_BIN/latchkey"

    # The provider's client (a random secret, kept in a 0600 file).
    umask 077
    local secret_file="$lk_root/var/demo-client.secret"
    python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$secret_file"
    umask 022
    python3 - "$secret_file" "$LATCHKEY_URL/callback/confluence" > "$demo_dir/client.json" <<'PY'
import json, sys
print(json.dumps({"client_id": "demo-client",
                  "client_secret": open(sys.argv[1]).read().strip(),
                  "redirect_uris": [sys.argv[2]]}))
PY
    curl -fsS -X POST -H 'Content-Type: application/json' \
        --data-binary @"$demo_dir/client.json" "$PROVIDER_URL/_fake/clients" >/dev/null
    rm -f "$demo_dir/client.json"

    "$lk" profile add confluence --template atlassian-confluence \
        --client-id demo-client --client-secret-file "$secret_file" \
        --callback-url "$LATCHKEY_URL/callback/confluence" \
        --authorization-url "$PROVIDER_URL/authorize" \
        --token-url "$PROVIDER_URL/oauth/token" \
        --resources-url "$PROVIDER_URL/oauth/token/accessible-resources" \
        --api-base-url "$PROVIDER_URL/ex/confluence/{cloud_id}" \
        --allow-direct-authorize

    # The bot key is printed once: keep it in a 0600 file.
    local out key link
    out="$("$lk" key create --name demo-bot --profiles '*')"
    key="$(printf '%s\n' "$out" | grep -o 'lk_[A-Za-z0-9_.~-]*' | head -n1 || true)"
    [ -n "$key" ] || key="$(printf '%s' "$out" | tr -d '[:space:]')"
    umask 077
    printf '%s\n' "$key" > "$lk_root/var/demo-bot.key"
    umask 022

    out="$("$lk" link confluence demo-user)"
    link="$(printf '%s\n' "$out" | grep -o 'https\?://[^[:space:]]*' | head -n1 || true)"
    [ -n "$link" ] || link="$out"

    start_deliverer "$lk"
    write_info "$link" > "$info"
    cat "$info"
}

# The webhook deliverer, in the background like the stack (its pid and log
# in var/); `down` stops it.
start_deliverer() {
    local lk="$1"
    LATCHKEY_CONFIG="$demo_dir/latchkey.conf" nohup "$lk" events \
        >>"$lk_root/var/demo-events.log" 2>&1 </dev/null &
    echo $! > "$lk_root/var/demo-events.pid"
}

stop_deliverer() {
    local pidfile="$lk_root/var/demo-events.pid" pid
    [ -f "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    # Only our deliverer: the pid must still be a `latchkey events`.
    if [ -n "$pid" ] && grep -qa 'events' "/proc/$pid/cmdline" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
    rm -f "$pidfile"
}

write_info() {
    local link="$1" keyfile="$lk_root/var/demo-bot.key" where=""
    # A checkout that PostgreSQL's user cannot reach (below root's home):
    # tests/stack.py ran the stack in /tmp, with links in $demo_dir.
    if [ -n "${STACK_RUNTIME_DIR:-}" ] && [ "$STACK_RUNTIME_DIR" != "${STACK_DIR:-}" ]; then
        where="
(Its files are in $STACK_RUNTIME_DIR, which user postgres can reach, linked
from there; 'down' moves the logs back and removes that directory.)"
    fi
    cat <<EOF

Latchkey demo is running (stack in $demo_dir; logs there too).$where

1. Connect "demo-user": open this link in a browser on this machine and
   approve the fake consent page:

     $link

   (seed form, also accepted for this profile:
     $LATCHKEY_URL/oauth/confluence/authorize?instance_id=demo-user2 )

2. The bot key ("demo-bot", all profiles) is in $keyfile:

     $(cat "$keyfile")

3. Try it:

   KEY=\$(cat $keyfile)
   # a fresh access token for demo-user
   curl -s -H "Authorization: Bearer \$KEY" \\
     "$LATCHKEY_URL/token/confluence?instance_id=demo-user&min_validity=60"
   # call the (fake) Confluence API through Latchkey
   curl -s -H "Authorization: Bearer \$KEY" -H "X-Instance-Id: demo-user" \\
     "$LATCHKEY_URL/proxy/confluence/wiki/rest/api/space?limit=5"
   # the same Confluence as MCP tools for an agent (SPEC §10)
   curl -s -H "Authorization: Bearer \$KEY" -H "X-Instance-Id: demo-user" \\
     -H "Content-Type: application/json" \\
     -d '{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}' "$LATCHKEY_URL/mcp/confluence"
   # refresh now
   curl -s -X POST -H "Authorization: Bearer \$KEY" -H "Content-Type: application/json" \\
     -d '{"instance_id": "demo-user"}' "$LATCHKEY_URL/refresh/confluence"
   # a new authorization link for another user
   curl -s -X POST -H "Authorization: Bearer \$KEY" -H "Content-Type: application/json" \\
     -d '{"instance_id": "another-user"}' "$LATCHKEY_URL/authorize/confluence"
   # disconnect
   curl -s -X DELETE -H "Authorization: Bearer \$KEY" \\
     "$LATCHKEY_URL/token/confluence?instance_id=demo-user"

   Admin CLI: LATCHKEY_CONFIG=$demo_dir/latchkey.conf $LATCHKEY_BIN/latchkey --help

4. Webhooks: a deliverer (\`latchkey events\`) is running (log:
   $lk_root/var/demo-events.log). Add a receiver (https, or http on this
   machine); the signing secret is printed once:

   LATCHKEY_CONFIG=$demo_dir/latchkey.conf $LATCHKEY_BIN/latchkey \\
     webhook add http://127.0.0.1:9000/hooks --events 'connection.*,profile.*'
   # then connect, refresh or disconnect demo-user, or send a test event:
   LATCHKEY_CONFIG=$demo_dir/latchkey.conf $LATCHKEY_BIN/latchkey webhook test 1
   LATCHKEY_CONFIG=$demo_dir/latchkey.conf $LATCHKEY_BIN/latchkey webhook list

Stop it with: deploy/demo.sh down
EOF
}

status() {
    if stack status --dir "$demo_dir"; then
        [ -f "$info" ] && cat "$info"
        return 0
    fi
    echo "the demo is not (fully) running"
    return 1
}

down() {
    stop_deliverer
    if [ -f "$demo_dir/stack.json" ]; then
        stack down --dir "$demo_dir"
    else
        echo "no demo stack in $demo_dir"
    fi
    if [ -L "$lk_root/var/stack.env" ] && [ "$(readlink "$lk_root/var/stack.env")" = demo/stack.env ]; then
        rm -f "$lk_root/var/stack.env"
    fi
    rm -f "$info" "$lk_root/var/demo-bot.key" "$lk_root/var/demo-client.secret"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
