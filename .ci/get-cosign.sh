#!/usr/bin/env bash
# (Copied from the workplace's shared tools so that CI on a bare clone has it.)
# Fetch cosign (not packaged for bookworm) from Debian's trixie suite without touching the
# system's apt configuration; prints the path of the cosign binary.
set -euo pipefail
dest=${1:-${TMPDIR:-/tmp}/cosign-bin}
[ -x "$dest/cosign" ] && { echo "$dest/cosign"; exit 0; }
work=$(mktemp -d)
uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$work/trixie.sources"
opts=(-o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts="$work/sp" -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Debug::NoLocking=1)
mkdir -p "$work/sp" && cp "$work/trixie.sources" "$work/sp/"
apt-get "${opts[@]}" update -qq >/dev/null 2>&1
(cd "$work" && apt-get "${opts[@]}" download cosign >/dev/null 2>&1)
deb=$(ls "$work"/cosign_*.deb)
dpkg-deb -x "$deb" "$work/x"
mkdir -p "$dest" && cp "$work/x/usr/bin/cosign" "$dest/cosign"
echo "$dest/cosign"
