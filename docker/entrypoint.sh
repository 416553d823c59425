#!/bin/sh
# Entry point of the lab3 image. Runs as root (PID 2, under tini/docker-init),
# prepares the learner account, then runs the command as `learner`
# (or as root when LAB_RUN_AS=root, as the `test` service does).
set -eu

USER_NAME=learner
HOME_DIR=/home/learner
WORK=${LAB_WORK:-$HOME_DIR/work}
SERVER_UID=$(id -u labserver 2>/dev/null || echo 64200)

note() { printf 'lab3: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    # started with `--user`: nothing to set up, nobody to switch to
    exec "$@"
fi

mkdir -p "$WORK"

# Give `learner` the uid/gid that owns the mounted work folder, so that files
# written there belong to the host user (Linux hosts). A root-owned folder
# (Docker created it, or Docker Desktop on macOS/Windows) leaves learner as is.
owner_uid=$(stat -c %u "$WORK")
owner_gid=$(stat -c %g "$WORK")
cur_uid=$(id -u "$USER_NAME")
cur_gid=$(id -g "$USER_NAME")
if [ "$owner_uid" != 0 ] && [ "$owner_uid" != "$SERVER_UID" ]; then
    if [ "$owner_uid" != "$cur_uid" ] || [ "$owner_gid" != "$cur_gid" ]; then
        if [ "$owner_gid" = 0 ]; then owner_gid=$owner_uid; fi
        # edit the databases directly: usermod would chown files under the
        # home directory, including whatever the mounted folder holds
        groupmod -o -g "$owner_gid" "$USER_NAME"
        sed -i "s/^$USER_NAME:\([^:]*\):[0-9]*:[0-9]*:/$USER_NAME:\1:$owner_uid:$owner_gid:/" /etc/passwd
        find "$HOME_DIR" -xdev -path "$WORK" -prune -o -exec chown -h "$owner_uid:$owner_gid" {} + 2>/dev/null || true
    fi
elif [ "$owner_uid" = 0 ] && [ -z "$(ls -A "$WORK" 2>/dev/null)" ] &&
     ! setpriv --reuid="$cur_uid" --regid="$cur_gid" --clear-groups test -w "$WORK"; then
    # an empty folder that Docker just created for the bind mount: hand it over
    chown "$cur_uid:$cur_gid" "$WORK" 2>/dev/null || true
fi
if [ "${LAB_RUN_AS:-$USER_NAME}" != root ] &&
   ! setpriv --reuid="$(id -u "$USER_NAME")" --regid="$(id -g "$USER_NAME")" --clear-groups test -w "$WORK"; then
    note "warning: $WORK is not writable for $USER_NAME (owned by uid $owner_uid)."
    note "         Create the work/ folder as your own user on the host (mkdir work) and start again."
fi

if [ $# -eq 0 ]; then
    set -- bash -l
fi

if [ "${LAB_RUN_AS:-$USER_NAME}" = root ]; then
    exec "$@"
fi

export HOME="$HOME_DIR" USER="$USER_NAME" LOGNAME="$USER_NAME" SHELL=/bin/bash
exec setpriv --reuid="$USER_NAME" --regid="$(id -g "$USER_NAME")" --init-groups -- "$@"
