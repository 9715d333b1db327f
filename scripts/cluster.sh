#!/usr/bin/env bash
# A real gitfleet cluster on this machine, to try by hand (docs/cluster.md): 3 etcd members,
# 3 agents each with its own private systemd (metadata region=a/b/c), 2 engines and a controller
# following a bare repository seeded from units.example/ (or from --repo). The same cluster the
# end-to-end test runs (test/support/cluster.ts), held by a supervisor process (scripts/cluster.ts).
#
#   scripts/cluster.sh start [--repo GIT_REPO] [--source local|http] [--lease-ttl S]
#   scripts/cluster.sh status     # every process by role, and whether it runs
#   scripts/cluster.sh revive     # start again the agents and engines that exited
#   scripts/cluster.sh stop       # end everything by PID, private systemd instances included
#
# Everything lives under $GITFLEET_CLUSTER_DIR (default /tmp/gitfleet-cluster): PIDs in pids,
# logs in logs/, machine state dirs in machines/, the unit repository in work/ and srv/.
# Processes are only ever ended by PID (checked against their recorded start time), never by name.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=${GITFLEET_CLUSTER_DIR:-/tmp/gitfleet-cluster}
cmd=${1:-help}
shift || true

die() { echo "cluster.sh: $*" >&2; exit 1; }

# "pid starttime" still the same process? (field 22 of /proc/PID/stat, after the ')' of comm)
same_process() {
  local pid=$1 start=$2 stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "$(echo "$stat" | awk '{print $20}')" = "$start" ]
}

supervisor_alive() {
  [ -f "$DIR/pids" ] || return 1
  local role name pid start
  while read -r role name pid start; do
    if [ "$role" = supervisor ]; then same_process "$pid" "$start" && return 0; return 1; fi
  done < "$DIR/pids"
  return 1
}

supervisor_pid() {
  awk '$1 == "supervisor" {print $3}' "$DIR/pids"
}

case "$cmd" in
  start)
    command -v etcd >/dev/null || die "etcd is not installed (apt-get install etcd-server)"
    [ "$(id -u)" = 0 ] || die "the agents' private systemd instances need root (their own cgroups)"
    if supervisor_alive; then die "a cluster already runs under $DIR (scripts/cluster.sh stop first)"; fi
    if [ -e "$DIR" ]; then
      [ -e "$DIR/.gitfleet-cluster" ] || die "$DIR exists and is not a gitfleet cluster directory; set GITFLEET_CLUSTER_DIR"
      # A previous cluster that was not stopped cleanly: end what is left of it first.
      "$0" stop >/dev/null 2>&1 || true
      rm -rf "$DIR"
    fi
    mkdir -p "$DIR"
    touch "$DIR/.gitfleet-cluster"
    # Its own session: the cluster outlives this shell and a terminal's Ctrl-C.
    # (-w: should setsid have to fork, it waits, so $! lives exactly as long as the supervisor.)
    setsid -w node --import tsx "$ROOT/scripts/cluster.ts" run --dir "$DIR" "$@" >"$DIR/supervisor.log" 2>&1 </dev/null &
    launcher=$!
    for _ in $(seq 1 600); do
      [ -f "$DIR/ready" ] && break
      if ! kill -0 "$launcher" 2>/dev/null; then
        echo "cluster.sh: the cluster did not start; $DIR/supervisor.log ends with:" >&2
        tail -n 40 "$DIR/supervisor.log" >&2
        exit 1
      fi
      sleep 0.2
    done
    [ -f "$DIR/ready" ] || die "not ready after 120 s; see $DIR/supervisor.log"
    cat "$DIR/howto.txt"
    ;;

  stop)
    [ -d "$DIR" ] || { echo "cluster.sh: no cluster under $DIR"; exit 0; }
    if supervisor_alive; then
      pid=$(supervisor_pid)
      kill -TERM "$pid"
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    # The supervisor ended everything unless it was killed: end what is left, by PID.
    if [ -f "$DIR/pids" ]; then
      while read -r role name pid start; do
        if same_process "$pid" "$start"; then
          echo "cluster.sh: ending $role $name (pid $pid)"
          kill -KILL "$pid" 2>/dev/null || true
        fi
      done < "$DIR/pids"
      rm -f "$DIR/pids"
    fi
    # Private systemd instances of agents that were killed: stopped by PID from their records.
    node --import tsx "$ROOT/scripts/cluster.ts" cleanup --dir "$DIR"
    rm -f "$DIR/ready" "$DIR/supervisor.pid"
    echo "cluster.sh: stopped (logs kept in $DIR/logs)"
    ;;

  status)
    [ -f "$DIR/pids" ] || { echo "cluster.sh: no cluster runs under $DIR"; exit 1; }
    printf '%-11s %-24s %-8s %s\n' ROLE NAME PID STATE
    while read -r role name pid start; do
      if same_process "$pid" "$start"; then state=running; else state=exited; fi
      printf '%-11s %-24s %-8s %s\n' "$role" "$name" "$pid" "$state"
    done < "$DIR/pids"
    ;;

  revive)
    supervisor_alive || die "no cluster runs under $DIR"
    kill -USR1 "$(supervisor_pid)"
    echo "cluster.sh: asked the supervisor to start exited agents and engines again (scripts/cluster.sh status in a moment)"
    ;;

  help|-h|--help)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    ;;

  *)
    die "unknown command \"$cmd\" (start, status, revive, stop)"
    ;;
esac
