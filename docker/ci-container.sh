#!/usr/bin/env bash
# The container part of CI: make `docker compose` work, make the base image
# (offline, with debootstrap, when no registry answers), build the lab image,
# then run the whole test suite inside the container, as root, as CI does
# natively.
#
#   bash docker/ci-container.sh           # setup + test
#   bash docker/ci-container.sh setup     # only plugin, base image, lab image
#   bash docker/ci-container.sh test [pytest args]   # only `docker compose run --rm test`
#
# tests/test_container.py (run by the native suite with CI=true) needs what
# `setup` makes; its session fixture builds the image itself, but not the
# compose plugin: run `setup` before the native tests on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s ==\n' "$*"; }
elapsed() { echo "   ($(( $(date +%s) - $1 )) s)"; }

setup() {
    local t
    step "docker compose plugin"
    t=$(date +%s); bash docker/install-compose-plugin.sh; elapsed "$t"
    step "base image"
    t=$(date +%s); bash docker/build-base-image.sh; elapsed "$t"
    step "lab image: docker compose build lab3"
    # one build: the three services share the image lab3:latest
    t=$(date +%s); docker compose build --progress=plain lab3; elapsed "$t"
    docker image ls lab3:latest
}

run_tests() {
    local t
    step "the test suite inside the container: docker compose run --rm test"
    t=$(date +%s)
    # -T: no TTY on CI. Extra arguments go to pytest.
    if [ $# -gt 0 ]; then
        docker compose run --rm -T test python3 -m pytest -q -p no:cacheprovider /opt/lab3/tests "$@"
    else
        docker compose run --rm -T test
    fi
    elapsed "$t"
}

case "${1:-all}" in
    setup) setup ;;
    test)  shift; run_tests "$@" ;;
    all)   setup; run_tests ;;
    *)     echo "usage: $0 [setup|test [pytest args]]" >&2; exit 2 ;;
esac
