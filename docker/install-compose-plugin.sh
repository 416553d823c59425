#!/usr/bin/env bash
# Make `docker compose` (Compose v2, the CLI plugin) available.
#
# Does nothing when `docker compose version` already works. Otherwise:
#   1. installs docker-compose-plugin with apt-get if an apt source offers it
#      (Docker's own apt repository);
#   2. else downloads Debian trixie's docker-compose package (Compose v2,
#      a single Go binary that only needs libc) from the Debian mirror,
#      checks its SHA-256 and extracts only the plugin binary to
#      /usr/libexec/docker/cli-plugins/docker-compose. Nothing else of the
#      package is installed; an existing docker-compose v1 stays as it is.
# Works where only a Debian mirror is reachable (no Docker Hub, no GitHub).
#
# Environment:
#   LAB_DEBIAN_MIRROR     Debian mirror            (the one this machine's apt uses; docker/apt-mirror.sh)
#   LAB_DEBIAN_SNAPSHOT   an archive that keeps superseded packages, tried second (none)
#   COMPOSE_DEB_URL       a different .deb to use  (then COMPOSE_DEB_SHA256 too, or "skip")
#   COMPOSE_PLUGIN_DIR    where to put the plugin  (/usr/libexec/docker/cli-plugins)
# Needs root to write the plugin directory.
set -euo pipefail

say() { printf 'install-compose-plugin: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v docker >/dev/null || die "docker (the CLI) is not installed"

if docker compose version >/dev/null 2>&1; then
    say "already installed: $(docker compose version)"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root (sudo bash $0): it writes to ${COMPOSE_PLUGIN_DIR:-/usr/libexec/docker/cli-plugins}"

# 1. Docker's apt repository, when configured.
if command -v apt-cache >/dev/null &&
   apt-cache policy docker-compose-plugin 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    say "installing docker-compose-plugin with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose-plugin >/dev/null
    if docker compose version >/dev/null 2>&1; then
        say "installed: $(docker compose version)"
        exit 0
    fi
    say "apt's docker-compose-plugin did not give a working 'docker compose'; trying Debian's package"
fi

# 2. Debian trixie's docker-compose package (Compose v2).
. "$(dirname "$0")/apt-mirror.sh"
MIRROR=$(debian_mirror)
VERSION=2.26.1-4
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
case "$ARCH" in
    amd64|x86_64)  ARCH=amd64 SHA=47681197cb2b1ab88206b42a1a92fc75f50d9530a6322d03494a473eed0408ea ;;
    arm64|aarch64) ARCH=arm64 SHA=bbafaa666f3e7fa00ad36f2a8bab889f1c791ca8743d674e7267a3d07203869c ;;
    *) SHA= ;;
esac
DEB=docker-compose_${VERSION}_${ARCH}.deb
if [ -n "${COMPOSE_DEB_URL:-}" ]; then
    URLS=$COMPOSE_DEB_URL
    SHA=${COMPOSE_DEB_SHA256:-}
    [ -n "$SHA" ] || die "set COMPOSE_DEB_SHA256 to the sha256 of $COMPOSE_DEB_URL (or to skip)"
else
    [ -n "$SHA" ] || die "no known package for architecture $ARCH: set COMPOSE_DEB_URL and COMPOSE_DEB_SHA256"
    [ -n "$MIRROR" ] || die "no Debian mirror in this machine's apt sources: set LAB_DEBIAN_MIRROR"
    URLS="$MIRROR/pool/main/d/docker-compose/$DEB"
    # a mirror's pool drops superseded versions; a snapshot archive keeps them
    if [ -n "${LAB_DEBIAN_SNAPSHOT:-}" ]; then
        URLS="$URLS
${LAB_DEBIAN_SNAPSHOT%/}/pool/main/d/docker-compose/$DEB"
    fi
fi
command -v curl >/dev/null || command -v wget >/dev/null || die "need curl or wget"
command -v dpkg-deb >/dev/null || die "need dpkg-deb (Debian/Ubuntu host)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
got=
for url in $URLS; do
    say "downloading $url"
    if command -v curl >/dev/null; then
        curl -fsSL --retry 3 --connect-timeout 20 -o "$TMP/pkg.deb" "$url" && got=1 && break
    else
        wget -q -O "$TMP/pkg.deb" "$url" && got=1 && break
    fi
done
[ -n "$got" ] || die "could not download the Compose v2 package (tried: $(echo $URLS)).
Install the Compose plugin another way: https://docs.docker.com/compose/install/linux/"

if [ "$SHA" != skip ]; then
    echo "$SHA  $TMP/pkg.deb" | sha256sum -c --quiet - >/dev/null 2>&1 ||
        die "checksum mismatch for the downloaded package (expected sha256 $SHA)"
fi

dpkg-deb -x "$TMP/pkg.deb" "$TMP/x"
BIN=$TMP/x/usr/libexec/docker/cli-plugins/docker-compose
[ -x "$BIN" ] || die "the package has no usr/libexec/docker/cli-plugins/docker-compose"
DEST=${COMPOSE_PLUGIN_DIR:-/usr/libexec/docker/cli-plugins}
install -d -m 0755 "$DEST"
install -m 0755 "$BIN" "$DEST/docker-compose"

if ! docker compose version >/dev/null 2>&1; then
    die "installed $DEST/docker-compose but 'docker compose version' still fails
(does your docker CLI look for plugins in $DEST? try COMPOSE_PLUGIN_DIR=~/.docker/cli-plugins)"
fi
say "installed $DEST/docker-compose: $(docker compose version)"
