#!/usr/bin/env bash
# Installs the interop peers (root, non-interactive, idempotent):
#  - ngtcp2's example programs gtlsclient / gtlsserver (Debian ngtcp2-client / ngtcp2-server),
#    1.11 from bookworm-backports (final QUIC v2), falling back to bookworm's 0.12;
#  - tshark (Wireshark's dissector) for the wire check.
# Prints one line per peer with the version installed.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive

APT_QUIET=(-y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
BACKPORTS=/etc/apt/sources.list.d/zquic-bookworm-backports.sources
updated=0
update() { [ "$updated" -eq 1 ] || { apt-get update -qq >/dev/null 2>&1 && updated=1; }; }
installed_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }

if [ "$(id -u)" -ne 0 ]; then
  echo "install-peers: must run as root (apt-get)" >&2
  exit 1
fi

# bookworm-backports (only on Debian bookworm).
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if [ "$codename" = bookworm ] && [ ! -f "$BACKPORTS" ] &&
  ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat >"$BACKPORTS" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

# ngtcp2: want >= 1.0 (backports); accept what bookworm has when backports cannot be used.
v=$(installed_version ngtcp2-client)
if [ -z "$v" ] || dpkg --compare-versions "$v" lt 1.0; then
  update
  if ! apt-get install "${APT_QUIET[@]}" -t bookworm-backports ngtcp2-client ngtcp2-server >/dev/null 2>&1; then
    echo "install-peers: ngtcp2 from bookworm-backports failed; trying bookworm's" >&2
    apt-get install "${APT_QUIET[@]}" ngtcp2-client ngtcp2-server >/dev/null 2>&1 ||
      echo "install-peers: could not install ngtcp2-client/ngtcp2-server" >&2
  fi
fi

# tshark: wireshark-common asks whether non-root users may capture; answer no, non-interactively.
if ! command -v tshark >/dev/null; then
  update
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get install "${APT_QUIET[@]}" tshark >/dev/null 2>&1 || echo "install-peers: could not install tshark" >&2
fi

for p in ngtcp2-client ngtcp2-server tshark; do
  echo "$p $(installed_version "$p" || true)"
done
