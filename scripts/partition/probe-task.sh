#!/bin/sh
# The masterOnly probe task the partition scenarios submit continuously (see docs/partition-tests.md).
# It appends one JSON line per run to a record file on the host filesystem, which every namespace sees:
# which node ran it, under which term, and when (microseconds, host clock, shared by all namespaces).
# A shell script rather than node: the master runs several of these per second and must stay cheap.
# usage: probe-task.sh <record-file> [hold-seconds]
rec="$1"; hold="${2:-0.1}"
[ -n "$rec" ] || { echo "usage: probe-task.sh <record-file> [hold-seconds]" >&2; exit 2; }
cat >/dev/null # the payload (stdin) is not used
start=$(date +%s%6N)
sleep "$hold"
# Started in its own process group, the task survives a SIGKILL of its agent: mark such a run `orphaned`,
# it was no longer run by any agent when it ended.
orphaned=false; kill -0 "$PPID" 2>/dev/null || orphaned=true
end=$(date +%s%6N)
printf '{"task":"%s","node":"%s","term":%s,"attempt":%s,"start":%s,"end":%s,"pid":%s,"orphaned":%s}\n' \
  "$CONCLAVE_TASK_ID" "$CONCLAVE_NODE_ID" "${CONCLAVE_MASTER_TERM:-null}" "${CONCLAVE_ATTEMPT:-null}" \
  "$start" "$end" "$$" "$orphaned" >> "$rec"
[ "$orphaned" = false ] || exit 1
printf '{"node":"%s","term":%s}' "$CONCLAVE_NODE_ID" "${CONCLAVE_MASTER_TERM:-null}"
