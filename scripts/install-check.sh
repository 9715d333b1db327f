#!/usr/bin/env bash
# Follow docs/install.md on this one machine, from `npm pack` to a first commit that runs, and say
# how long each step took. The three "hosts" are directories under one temp dir; etcd members
# listen on loopback ports of their own; agents run with `--systemd private` (each its own systemd
# user instance and journald), as install.md says for hosts without systemd as PID 1. Certificates
# are made with openssl as install.md makes them; etcd is configured with the same /etc/default/etcd
# settings (run here as `etcd` with that environment instead of Debian's etcd.service).
#
# Everything started here is recorded by PID and ended by PID when the script exits (also on
# failure or Ctrl-C). KEEP=1 leaves the temp dir (logs, certificates) for a look.
#
# Needs: root (private systemd instances), node + npm, etcd + etcdctl, openssl, git.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)

T=$(mktemp -d /tmp/gitfleet-install-check-XXXXXX)
mkdir -p "$T/logs"
declare -A PIDS=()      # name -> pid, of everything started here
ID="ic$$"               # machine ids: unique on this machine (they name cgroups)
STEP_START=$(date +%s.%N)
ALL_START=$STEP_START
TIMES=()

step() { # step NAME: close the previous step's clock, print what comes
  local now; now=$(date +%s.%N)
  [ -n "${STEP_NAME:-}" ] && TIMES+=("$(awk -v a="$STEP_START" -v b="$now" -v n="$STEP_NAME" 'BEGIN { printf "   %-34s %6.1f s", n, b - a }')")
  STEP_NAME=$1; STEP_START=$now
  echo "== $1" >&2
}
die() { echo "install-check: $*" >&2; exit 1; }
wait_for() { # wait_for SECONDS WHAT COMMAND...: poll every 0.2 s
  local limit=$1 what=$2; shift 2
  local end=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "timed out after ${limit} s waiting for: $what"
    sleep 0.2
  done
}
start() { # start NAME COMMAND...: in the background, logged, PID recorded
  local name=$1; shift
  "$@" >"$T/logs/$name.log" 2>&1 &
  PIDS[$name]=$!
}
end_pid() { # end_pid PID SECONDS: SIGTERM, wait, SIGKILL
  local pid=$1 limit=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < limit * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  echo "== teardown" >&2
  # gitfleet first (agents stop their units and their systemd: --on-exit stop), then etcd.
  local enders=()
  for name in "${!PIDS[@]}"; do
    if [[ $name != etcd-* ]]; then end_pid "${PIDS[$name]}" 30 & enders+=($!); fi
  done
  [ ${#enders[@]} -eq 0 ] || wait "${enders[@]}" || true
  # An agent that did not get to stop its systemd: by the PID and cgroups its record names.
  for rec in "$T"/host*/var-lib-gitfleet/systemd/*/systemd.json; do
    [ -f "$rec" ] || continue
    node -e '
      const fs = require("fs");
      const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      const alive = (p) => { try { return fs.readFileSync(`/proc/${p}/comm`, "utf8").trim() === "systemd"; } catch { return false; } };
      if (alive(r.pid)) process.kill(r.pid, "SIGKILL");
      const procs = (d) => { let out = []; try { out = fs.readFileSync(d + "/cgroup.procs", "utf8").split("\n").filter(Boolean).map(Number);
        for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) out.push(...procs(d + "/" + e.name)); } catch {} return out; };
      for (const d of r.cgroupDirs) for (const p of procs(d)) try { process.kill(p, "SIGKILL"); } catch {}
      const rm = (d) => { try { for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rm(d + "/" + e.name); fs.rmdirSync(d); } catch {} };
      setTimeout(() => { for (const d of r.cgroupDirs) rm(d); for (const p of r.cgroupParents) try { fs.rmdirSync(p); } catch {} }, 300);
    ' "$rec" || true
  done
  enders=()
  for name in "${!PIDS[@]}"; do
    if [[ $name == etcd-* ]]; then end_pid "${PIDS[$name]}" 20 & enders+=($!); fi
  done
  [ ${#enders[@]} -eq 0 ] || wait "${enders[@]}" || true
  if [ "${KEEP:-}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

for tool in node npm etcd etcdctl openssl git; do command -v $tool >/dev/null || die "$tool is not installed"; done
[ "$(id -u)" = 0 ] || die "run as root (agents start private systemd instances)"

# ---- 1. the package, installed with no registry ----------------------------------------------
step "npm pack"
npm pack --pack-destination "$T" >"$T/logs/pack.log" 2>&1 || die "npm pack failed: $(tail -5 "$T/logs/pack.log")"
TGZ=$(ls "$T"/gitfleet-*.tgz)

step "npm install -g (offline)"
# An empty cache and --offline: nothing may come from a registry.
npm install -g --offline --ignore-scripts --no-audit --no-fund --cache "$T/npm-cache" --prefix "$T/prefix" "$TGZ" \
  >"$T/logs/install.log" 2>&1 || die "offline install failed: $(tail -5 "$T/logs/install.log")"
export PATH="$T/prefix/bin:$PATH"
[ "$(command -v gitfleet)" = "$T/prefix/bin/gitfleet" ] || die "gitfleet is not the one just installed"
echo "   gitfleet $(gitfleet --version) from $TGZ ($(du -h "$TGZ" | cut -f1))" >&2
cd "$T"   # from here on nothing of the source tree is used

# ---- 2. certificates, as install.md makes them ---------------------------------------------
step "certificates (openssl)"
mkdir -p "$T/pki" && cd "$T/pki"
openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem 2>/dev/null
openssl req -x509 -new -key ca-key.pem -subj "/CN=gitfleet CA" -days 3650 -out ca.pem 2>/dev/null
cert() {   # cert NAME EXTENSIONS: NAME.pem and NAME-key.pem, signed by the CA
  openssl ecparam -name prime256v1 -genkey -noout -out "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "/CN=$1" -out "$1.csr"
  printf '%b\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
    -extfile "$1.ext" -out "$1.pem"
} 2>/dev/null
for i in 1 2 3; do
  # One machine: every member is localhost (install.md: DNS:host$i,IP:10.0.0.$i).
  cert etcd-host$i "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"
  cert agent-host$i "extendedKeyUsage=clientAuth"
done
for who in engine controller admin; do cert $who "extendedKeyUsage=clientAuth"; done
cd "$T"
for i in 1 2 3; do
  H="$T/host$i"
  mkdir -p "$H/etc/etcd/tls" "$H/etc/gitfleet/tls"
  cp pki/ca.pem "$H/etc/etcd/tls/ca.pem"
  cp pki/etcd-host$i.pem "$H/etc/etcd/tls/server.pem"; cp pki/etcd-host$i-key.pem "$H/etc/etcd/tls/server-key.pem"
  cp pki/ca.pem "$H/etc/gitfleet/tls/ca.pem"
  cp pki/agent-host$i.pem "$H/etc/gitfleet/tls/agent.pem"; cp pki/agent-host$i-key.pem "$H/etc/gitfleet/tls/agent-key.pem"
  cp pki/engine.pem pki/engine-key.pem "$H/etc/gitfleet/tls/"
done
cp pki/controller.pem pki/controller-key.pem "$T/host1/etc/gitfleet/tls/"

# ---- 3. the etcd cluster with TLS ----------------------------------------------------------
step "etcd: 3 members with TLS, healthy"
PORT=$((20000 + RANDOM % 20000))
client() { echo $((PORT + 10 * $1)); }
peer() { echo $((PORT + 10 * $1 + 1)); }
CLUSTER="host1=https://localhost:$(peer 1),host2=https://localhost:$(peer 2),host3=https://localhost:$(peer 3)"
ENDPOINTS="https://localhost:$(client 1),https://localhost:$(client 2),https://localhost:$(client 3)"
for i in 1 2 3; do
  H="$T/host$i"; mkdir -p "$H/etc/default" "$H/var/lib/etcd"
  cat >"$H/etc/default/etcd" <<EOF
ETCD_NAME=host$i
ETCD_DATA_DIR=$H/var/lib/etcd/default
ETCD_LISTEN_CLIENT_URLS=https://127.0.0.1:$(client $i)
ETCD_ADVERTISE_CLIENT_URLS=https://localhost:$(client $i)
ETCD_LISTEN_PEER_URLS=https://127.0.0.1:$(peer $i)
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://localhost:$(peer $i)
ETCD_INITIAL_CLUSTER=$CLUSTER
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_INITIAL_CLUSTER_TOKEN=gitfleet-$ID
ETCD_CERT_FILE=$H/etc/etcd/tls/server.pem
ETCD_KEY_FILE=$H/etc/etcd/tls/server-key.pem
ETCD_TRUSTED_CA_FILE=$H/etc/etcd/tls/ca.pem
ETCD_CLIENT_CERT_AUTH=true
ETCD_PEER_CERT_FILE=$H/etc/etcd/tls/server.pem
ETCD_PEER_KEY_FILE=$H/etc/etcd/tls/server-key.pem
ETCD_PEER_TRUSTED_CA_FILE=$H/etc/etcd/tls/ca.pem
ETCD_PEER_CLIENT_CERT_AUTH=true
ETCD_LISTEN_METRICS_URLS=http://127.0.0.1:$((PORT + 10 * i + 2))
EOF
  start etcd-host$i env -i PATH="$PATH" bash -c "set -a; . '$H/etc/default/etcd'; set +a; exec etcd"
done
admin=(--cacert="$T/pki/ca.pem" --cert="$T/pki/admin.pem" --key="$T/pki/admin-key.pem")
wait_for 60 "etcd healthy" env ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" "${admin[@]}" endpoint health
# Without a client certificate the cluster answers nothing.
if ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" --cacert="$T/pki/ca.pem" --dial-timeout=2s get x >/dev/null 2>&1; then
  die "etcd answered a client without a certificate"
fi

# ---- 4./5. gitfleet's settings and services ------------------------------------------------
step "agents, engines, controller up"
for i in 1 2 3; do
  echo "GITFLEET_ETCD=$ENDPOINTS" >"$T/host$i/etc/gitfleet/gitfleet.env"
  echo "GITFLEET_AGENT_OPTS=\"--metadata region=eu,host=host$i\"" >"$T/host$i/etc/gitfleet/agent.env"
done
mkdir -p "$T/host1/srv/git"
git init -q --bare --shared=all -b main "$T/host1/srv/git/units.git"
echo "GITFLEET_CONTROLLER_OPTS=\"--repo $T/host1/srv/git/units.git\"" >"$T/host1/etc/gitfleet/controller.env"

tls() { # tls HOST WHO: the flags for a service's certificate on that host
  echo --etcd-ca "$T/host$1/etc/gitfleet/tls/ca.pem" --etcd-cert "$T/host$1/etc/gitfleet/tls/$2.pem" \
    --etcd-key "$T/host$1/etc/gitfleet/tls/$2-key.pem"
}
for i in 1 2 3; do
  E="$T/host$i/etc/gitfleet"
  # The agent as install.md runs it on a host without systemd as PID 1 (--on-exit stop: the
  # teardown's SIGTERM also stops its units and its systemd).
  # shellcheck disable=SC2046
  start agent-host$i bash -c "set -a; . $E/gitfleet.env; . $E/agent.env; set +a; exec gitfleet agent \
    --systemd private --state-dir $T/host$i/var-lib-gitfleet --machine-id $ID-host$i --address 127.0.0.1 \
    --on-exit stop --etcd \"\$GITFLEET_ETCD\" $(tls $i agent) \$GITFLEET_AGENT_OPTS"
  start engine-host$i bash -c "set -a; . $E/gitfleet.env; set +a; exec gitfleet engine --id engine-host$i \
    --etcd \"\$GITFLEET_ETCD\" $(tls $i engine)"
done
start controller-host1 bash -c "set -a; . $T/host1/etc/gitfleet/gitfleet.env; . $T/host1/etc/gitfleet/controller.env; \
  set +a; exec gitfleet controller --state-dir $T/host1/var-lib-gitfleet-controller --etcd \"\$GITFLEET_ETCD\" \
  $(tls 1 controller) \$GITFLEET_CONTROLLER_OPTS"

gf() { gitfleet "$@" --etcd "$ENDPOINTS" --etcd-ca "$T/pki/ca.pem" --etcd-cert "$T/pki/admin.pem" \
  --etcd-key "$T/pki/admin-key.pem"; }
three_machines() { [ "$(gf list-machines --format json | node -pe 'JSON.parse(require("fs").readFileSync(0)).length')" = 3 ]; }
has_leader() { gf status --format json | node -e 'process.exit(JSON.parse(require("fs").readFileSync(0)).leader ? 0 : 1)'; }
wait_for 90 "three machines registered" three_machines || true
three_machines || die "not three machines: $(gf list-machines 2>&1); agent log: $(tail -5 "$T/logs/agent-host1.log")"
wait_for 60 "an engine leads" has_leader

# ---- 6. the unit repository and the first push ----------------------------------------------
step "first push -> unit running"
git clone -q "$T/host1/srv/git/units.git" "$T/laptop/units" 2>/dev/null
cd "$T/laptop/units"
cat > fleet.yaml <<'EOF'
units:
  hello.service: launched
EOF
cat > hello.service <<'EOF'
[Unit]
Description=Hello World

[Service]
ExecStart=/bin/sh -c 'while true; do echo Hello World; sleep 1; done'
Restart=always
EOF
gitfleet lint . >&2
git add -A && git -c user.name=install-check -c user.email=check@example.com commit -q -m hello
git push -q origin HEAD:main
hello_runs() { gf list-units --format json | node -e '
  const u = JSON.parse(require("fs").readFileSync(0)).find((x) => x.unit === "hello.service");
  if (!u || u.active !== "active") process.exit(1); console.log(u.machine);'; }
wait_for 60 "hello.service active" hello_runs
MACHINE=$(hello_runs)
cd "$T"

step "checked through systemd and the CLI"
# The machine's own systemd says it runs (not gitfleet's report).
host=${MACHINE##*-}
rt=$(ls -d "$T/$host"/var-lib-gitfleet/systemd/*/rt)
[ "$(XDG_RUNTIME_DIR=$rt systemctl --user is-active hello.service)" = active ] || die "systemd on $host does not run hello.service"
journal_has_line() { gf journal hello.service -n 3 | grep -q "Hello World"; }
wait_for 30 "its journal has a line" journal_has_line
journal=$(gf journal hello.service -n 3)
grep -q "Hello World" <<<"$journal" || die "gitfleet journal shows no line: $journal"
status=$(gf status hello.service)
grep -q "Main PID: $(XDG_RUNTIME_DIR=$rt systemctl --user show -p MainPID --value hello.service)" <<<"$status" \
  || die "gitfleet status disagrees with systemd: $status"
echo "$journal" | sed 's/^/   /' >&2
echo "$status" | sed -n '/Active:/,/Restarts:/p' | sed 's/^/   /' >&2

step "done"
printf '%s\n' "${TIMES[@]}" >&2
awk -v a="$ALL_START" -v b="$(date +%s.%N)" -v l="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
  printf "install-check: from npm pack to a first push running on one of 3 machines in %.1f s (load average %s)\n", b - a, l
}' >&2
