#!/usr/bin/env bash
# CI check of the one-file executable: build dist/conclave, copy it alone into an empty directory, and run an
# agent and the client commands with it under a PATH that has no node (so nothing of the checkout is used).
# 127.0.0.1 only, mDNS off; the agent is stopped by its pid.
set -euo pipefail
cd "$(dirname "$0")/../.."

npm run build:exe
work=$(mktemp -d)
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then kill -KILL "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cp dist/conclave "$work/conclave"
mkdir "$work/bin" "$work/data"
# A PATH with only the basic tools (no node, no node_modules/.bin) and an empty HOME.
for tool in sh true; do ln -s "$(command -v $tool)" "$work/bin/$tool"; done
run() { env -i PATH="$work/bin" HOME="$work" "$work/conclave" "$@"; }

if env -i PATH="$work/bin" sh -c 'command -v node' >/dev/null; then echo "check-exe: node is on the test PATH" >&2; exit 1; fi

# Two ports below Linux's ephemeral range that nothing listens on.
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "check-exe: no free port" >&2; exit 1
}
p2p=$(free_port); api=$(free_port)
[ "$p2p" != "$api" ] || api=$((p2p + 1))

echo "check-exe: $(run --version)"
# Started directly (not through run(), a shell function): $! is then the agent's own pid.
env -i PATH="$work/bin" HOME="$work" "$work/conclave" agent --id exe-check --no-mdns --listen "/ip4/127.0.0.1/tcp/$p2p" --api "127.0.0.1:$api" \
  --data-dir "$work/data" --log-level warn &
agent_pid=$!

# Bounded wait (10 s) until the API answers and shows the agent as its own master (a one-node cluster).
for _ in $(seq 1 100); do
  if run status --api "127.0.0.1:$api" >"$work/status.txt" 2>&1 && grep -q '^master   exe-check' "$work/status.txt"; then break; fi
  kill -0 "$agent_pid" 2>/dev/null || { echo "check-exe: the agent exited" >&2; exit 1; }
  sleep 0.1
done
cat "$work/status.txt"
grep -q '^master   exe-check' "$work/status.txt" || { echo "check-exe: status does not show the agent as master within 10 s" >&2; exit 1; }
run members --api "127.0.0.1:$api" >"$work/members.txt"
grep -Eq '^exe-check\*? +alive' "$work/members.txt" || { echo "check-exe: members does not list the agent alive" >&2; exit 1; }
# The task journal (node:sqlite inside the executable) answers:
run tasks --api "127.0.0.1:$api" >/dev/null
[ -f "$work/data/tasks.sqlite" ] || { echo "check-exe: no task journal in the data dir" >&2; exit 1; }

kill -TERM "$agent_pid"
for _ in $(seq 1 50); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$agent_pid" 2>/dev/null; then echo "check-exe: the agent did not stop on SIGTERM" >&2; exit 1; fi
wait "$agent_pid" || { echo "check-exe: the agent exited with $?" >&2; exit 1; }
agent_pid=""
echo "check-exe: ok (agent, status, members, tasks from dist/conclave alone)"
