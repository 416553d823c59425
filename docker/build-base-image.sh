#!/usr/bin/env bash
# Build the base image (debian:bookworm-slim) without an image registry.
#
# The lab's Dockerfile starts FROM debian:bookworm-slim. With access to Docker
# Hub you never need this script: `docker compose build` pulls that image.
# Behind a firewall that only lets a Debian package mirror through (a
# classroom, a CI box), this script builds an equivalent image with
# debootstrap and imports it under the same tag.
#
#   bash docker/build-base-image.sh          # does nothing if the tag exists
#
# Environment:
#   LAB_BASE_IMAGE        tag to create            (debian:bookworm-slim)
#   LAB_DEBIAN_SUITE      Debian release           (bookworm)
#   LAB_DEBIAN_MIRROR     package mirror           (the one this machine's apt uses)
#   LAB_DEBIAN_SECURITY   security mirror, "" = none (likewise; docker/apt-mirror.sh)
#   LAB_BASE_PULL=0       do not try `docker pull` first
#   LAB_BASE_FORCE=1      rebuild even if the tag exists
# Needs root (debootstrap) and, if missing, installs debootstrap with apt-get.
set -euo pipefail

TAG=${LAB_BASE_IMAGE:-debian:bookworm-slim}
SUITE=${LAB_DEBIAN_SUITE:-bookworm}

say() { printf 'build-base-image: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

. "$(dirname "$0")/apt-mirror.sh"
MIRROR=$(debian_mirror)
SECURITY=$(debian_security_mirror)

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is it running? are you in the docker group?)"

if [ "${LAB_BASE_FORCE:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    say "$TAG already exists; nothing to do (LAB_BASE_FORCE=1 rebuilds it)"
    exit 0
fi

if [ "${LAB_BASE_FORCE:-0}" != 1 ] && [ "${LAB_BASE_PULL:-1}" != 0 ]; then
    say "trying: docker pull $TAG"
    if timeout 300 docker pull "$TAG" >/dev/null 2>&1; then
        say "pulled $TAG from the registry"
        exit 0
    fi
    say "no registry reachable; building $TAG with debootstrap"
fi
[ -n "$MIRROR" ] || die "no Debian mirror in this machine's apt sources (/etc/apt/sources.list{,.d}): set LAB_DEBIAN_MIRROR"
say "Debian mirror: $MIRROR${SECURITY:+, security: $SECURITY}"

[ "$(id -u)" = 0 ] || die "debootstrap needs root: run this script with sudo"
if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null; } \
        || die "could not install debootstrap"
fi

WORK=$(mktemp -d /var/tmp/lab3-rootfs.XXXXXX)
ROOTFS=$WORK/rootfs
cleanup() {
    # debootstrap may leave /proc, /sys or /dev mounted inside the target
    if [ -d "$ROOTFS" ]; then
        for m in $(awk -v r="$ROOTFS" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
            umount -l "$m" 2>/dev/null || true
        done
    fi
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

start=$(date +%s)
say "debootstrap --variant=minbase $SUITE (takes a few minutes)"
if ! debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2
    [ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (mirror $MIRROR reachable? set LAB_DEBIAN_MIRROR)"
fi

# Make it look like the official -slim image: apt sources in deb822 form, no
# docs/man pages/locales installed by later packages, apt caches cleaned.
rm -f "$ROOTFS/etc/apt/sources.list"
{
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$MIRROR" "$SUITE" "$SUITE"
    if [ -n "$SECURITY" ]; then
        printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$SECURITY" "$SUITE"
    fi
} >"$ROOTFS/etc/apt/sources.list.d/debian.sources"

cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
# as in the official debian:*-slim images
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages" <<'CFG'
Acquire::Languages "none";
CFG
# Drop what the image does not need: docs, caches, logs, the build's hostname.
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/*/ \
       "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
       "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS/debootstrap"
: >"$ROOTFS/etc/hostname"
rm -f "$ROOTFS/etc/resolv.conf"   # docker bind-mounts its own

say "importing as $TAG"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --message "debootstrap --variant=minbase $SUITE from $MIRROR (docker/build-base-image.sh)" \
    - "$TAG" >/dev/null
say "done in $(( $(date +%s) - start )) s: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$TAG")"
