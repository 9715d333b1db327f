#!/bin/bash
# Rebuilds test/unit/lint/debian/: the unit files of real Debian packages, the corpus on which the
# linter is compared with `systemd-analyze verify` (test/unit/lint/debian.test.ts).
#
#     scripts/debian-units.sh              # the packages named in test/unit/lint/debian/PACKAGES
#     scripts/debian-units.sh --discover   # candidates from apt's lists (see below), keep those with units
#     scripts/debian-units.sh PKG...       # these packages
#
# Each package is fetched with `apt-get download` and unpacked with `dpkg-deb -x` in a temp dir:
# nothing is installed. Regular files directly under {usr/,}lib/systemd/{system,user}/ with a unit
# suffix are copied to debian/PKG/system/ or debian/PKG/user/ (symlinks are aliases, *.d/ drop-ins
# are not unit files of their own). PACKAGES is rewritten with "PKG VERSION" of every package that
# had units. Needs `apt-get update` first; the machine's apt sources decide which release is used.
#
# --discover: the packages that depend on init-system-helpers (what debhelper adds to a package
# that enables a service) plus those whose name says daemon/server, under 30 MB each.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="${DEBIAN_UNITS_OUT:-$ROOT/test/unit/lint/debian}" # another directory: to try the script
LIST="$ROOT/test/unit/lint/debian/PACKAGES"
MAX_SIZE=30000000

candidates() {
  {
    apt-cache rdepends init-system-helpers | tail -n +3 | sed 's/^ *|\{0,1\} *//'
    apt-cache search --names-only '(daemon|server|-agent)$' | cut -d' ' -f1
  } | grep -v '^<' | grep -v ':i386$' | sort -u
}

if [ "${1:-}" = "--discover" ]; then
  mapfile -t PKGS < <(candidates)
elif [ $# -gt 0 ]; then
  PKGS=("$@")
else
  mapfile -t PKGS < <(cut -d' ' -f1 "$LIST")
fi
LIST="$OUT/PACKAGES"

WORK=$(mktemp -d /tmp/gitfleet-debian-units.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# Sizes in one apt-cache call; skip what is not downloadable or too big.
apt-cache show --no-all-versions "${PKGS[@]}" 2>/dev/null |
  awk '/^Package:/{p=$2} /^Size:/{print p, $2}' | sort -u >sizes
mapfile -t KEEP < <(awk -v max=$MAX_SIZE '$2 <= max {print $1}' sizes)
echo "debian-units: ${#KEEP[@]} of ${#PKGS[@]} packages to download" >&2

mkdir -p "$OUT"
find "$OUT" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
: >"$LIST.new"
n=0
for ((i = 0; i < ${#KEEP[@]}; i += 40)); do
  batch=("${KEEP[@]:i:40}")
  if ! apt-get download -q=2 "${batch[@]}" >/dev/null 2>&1; then
    for p in "${batch[@]}"; do apt-get download -q=2 "$p" >/dev/null 2>&1 || echo "debian-units: cannot download $p" >&2; done
  fi
  for deb in ./*.deb; do
    [ -e "$deb" ] || continue
    pkg=$(dpkg-deb -f "$deb" Package)
    ver=$(dpkg-deb -f "$deb" Version)
    rm -rf x && mkdir x && dpkg-deb -x "$deb" x
    found=0
    for kind in system user; do
      for dir in x/lib/systemd/$kind x/usr/lib/systemd/$kind; do
        [ -d "$dir" ] || continue
        while IFS= read -r -d '' f; do
          name=$(basename "$f")
          case "$name" in
          *.service | *.socket | *.timer | *.path | *.mount | *.automount | *.swap | *.target | *.slice | *.device) ;;
          *) continue ;;
          esac
          mkdir -p "$OUT/$pkg/$kind"
          cp "$f" "$OUT/$pkg/$kind/$name"
          chmod 644 "$OUT/$pkg/$kind/$name" # a mode bit is not content (systemd warns about +x)
          found=1
        done < <(find "$dir" -maxdepth 1 -type f -print0)
      done
    done
    [ $found = 1 ] && echo "$pkg $ver" >>"$LIST.new" && n=$((n + 1))
    rm -f "$deb"
  done
done
rm -rf x
sort "$LIST.new" >"$LIST" && rm -f "$LIST.new"
echo "debian-units: $n packages with units, $(find "$OUT" -type f ! -name PACKAGES ! -name README.md | wc -l) unit files in $OUT" >&2
