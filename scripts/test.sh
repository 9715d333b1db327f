#!/usr/bin/env bash
# The whole test suite: what README's test command and .ci/run run.
# Installs what the tests need (etcd, systemd, sshd, chromium, Prometheus... from Debian) when
# missing, type-checks, then runs every test file with Node's test runner. Each test file starts and stops its own etcd / systemd
# instances (test/support/) and ends them by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests run for real, by the command that shows it is there, and the Debian package that
# brings it: etcd, a private systemd (with journald and D-Bus), sshd for SSH remotes, signing tools,
# chromium for the UI, Prometheus for the metrics.
needs=(
  etcd:etcd-server etcdctl:etcd-client
  /lib/systemd/systemd:systemd /lib/systemd/systemd-journald:systemd journalctl:systemd
  dbus-daemon:dbus unshare:util-linux
  git:git /usr/sbin/sshd:openssh-server ssh-keygen:openssh-client gpg:gnupg openssl:openssl
  chromium:chromium prometheus:prometheus
)
missing=()
for n in "${needs[@]}"; do
  cmd=${n%%:*} pkg=${n#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then
    [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test: installing Debian's ${missing[*]} (missing here)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >&2
  else
    echo "test: missing ${missing[*]} and cannot install them here (need root and apt-get): install those packages" >&2
    exit 1
  fi
fi

npx tsc -p . --noEmit
# The formatter and linter (biome.json), and the width the formatter cannot enforce on strings.
npx biome check --error-on-warnings .
node --import tsx scripts/check-width.ts

# Test files that each run a whole cluster (3 etcd members, agents with their own systemd, engines,
# a controller) run one after another, after the rest: two of them side by side on a 2-core CI
# machine would starve each other. Everything else runs TEST_CONCURRENCY files at a time.
heavy='^test/(e2e/|metrics/prometheus\.test\.ts$|cli/journal\.test\.ts$)'
mapfile -t light < <(find test -name '*.test.ts' | sort | grep -Ev "$heavy")
mapfile -t clusters < <(find test -name '*.test.ts' | sort | grep -E "$heavy")
if [ "${#light[@]}" -eq 0 ]; then echo "test: no test files found" >&2; exit 1; fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-reporter=spec "${light[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
rc2=0
if [ "${#clusters[@]}" -gt 0 ]; then
  node --import tsx --test --test-concurrency=1 --test-reporter=spec "${clusters[@]}" 2>&1 | tee -a "$log"
  rc2=${PIPESTATUS[0]}
fi
set -e
# One plain closing line that any CI reads: "N passed, N failed" (both runs added up).
pass=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
fail=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
echo "${pass} passed, ${fail} failed"
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
exit "$rc2"
