"""The files a person names on `lab`'s command line, opened with their rights.

In the container (or wherever learners get a sudo rule like docker/sudoers)
the grader runs as root, but the paths it is given are the learner's: the
submission, --output, --rubric, --csv, --json, the bundle's --output. Under
sudo (root, with the SUDO_UID/SUDO_GID that sudo sets) each such open happens
in a short-lived helper process running as SUDO_UID, SUDO_GID and the
learner's groups, nothing more: the kernel checks permissions and resolves
symlinks exactly as for the learner's own shell, and a file is created by
(so owned by) the learner. Root's rights serve only the sandbox. Anywhere
else (a learner or instructor as themselves, root without sudo) the same
operations run in this process.

The helper is this very file, run as `python3 -I -S -c SOURCE` (the learner
needs no access to the grader's folder). Its answer is JSON and is treated
as data only: it is a process of the learner's uid, which they may tamper
with.
"""

import base64
import errno
import json
import os
import stat
import sys

HELPER_SECONDS = 30              # an open never hangs the grader (a FIFO, a stuck mount)
MAX_ANSWER = 4 << 20             # bytes of JSON read from the helper


class Learner:
    """Whose rights the paths are opened with (uid, gid, supplementary groups)."""

    def __init__(self, uid, gid, groups):
        self.uid, self.gid, self.groups = uid, gid, groups


def acting_for():
    """The learner who ran `lab` through sudo, or None (we act as ourselves)."""
    if os.geteuid() != 0:
        return None
    uid, gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
    if not uid.isdigit() or int(uid) == 0:
        return None
    uid = int(uid)
    gid = int(gid) if gid.isdigit() else uid
    import pwd
    try:
        groups = os.getgrouplist(pwd.getpwuid(uid).pw_name, gid)
    except (KeyError, OSError):
        groups = [gid]
    return Learner(uid, gid, groups)


# -- what may be done to a named path (here, or in the helper) ----------------

def _look(path):
    """What `path` is: missing, a folder (with its regular .py files), a
    regular file, or something else."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {"kind": "missing"}
    if stat.S_ISDIR(st.st_mode):
        names = []
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            if entry.name.endswith(".py") and entry.is_file():
                names.append(entry.name)
        return {"kind": "dir", "py_files": names}
    return {"kind": "file" if stat.S_ISREG(st.st_mode) else "other"}


def _read(path, limit):
    """The contents of a regular file (checked on the open file, so a swap
    between looking and reading changes nothing); more than `limit` bytes:
    OSError EFBIG, its strerror the size."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise OSError(errno.EFBIG, "%d bytes" % max(size, st.st_size))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write(path, data, atomic):
    """Create (or replace) a file with `data`, its folder too if missing.
    atomic: written beside it first, then renamed over it."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    target = path + ".tmp" if atomic else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOCTTY,
                 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    if atomic:
        os.replace(target, path)
    return None


def _helper_main():
    """The helper: `-c SOURCE OPERATION CWD ARGS_JSON`, data on stdin;
    prints {"ok": ...} or {"errno": N, "strerror": ...}."""
    operation, cwd, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    try:
        os.chdir(cwd)
        if operation == "look":
            answer = {"ok": _look(args["path"])}
        elif operation == "read":
            answer = {"ok": base64.b64encode(_read(args["path"], args["limit"])).decode()}
        elif operation == "write":
            answer = {"ok": _write(args["path"], sys.stdin.buffer.read(), args["atomic"])}
        else:
            answer = {"errno": errno.EINVAL, "strerror": "unknown operation"}
    except OSError as e:
        answer = {"errno": e.errno or errno.EIO, "strerror": e.strerror or str(e)}
    sys.stdout.write(json.dumps(answer))


# -- the grader's side ----------------------------------------------------------

def _as_learner(learner, operation, path, data=b"", **args):
    """Run one operation in the helper, as the learner; return its result
    or raise OSError as the learner's own open would."""
    import subprocess
    from .sandbox import python_for
    with open(__file__, encoding="utf-8") as f:
        source = f.read()
    argv = [python_for(learner.uid), "-I", "-S", "-c", source, operation, os.getcwd(),
            json.dumps(dict(args, path=str(path)))]
    try:
        helper = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, cwd="/",
                                  env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                                  user=learner.uid, group=learner.gid,
                                  extra_groups=learner.groups)
    except OSError as e:
        raise OSError(e.errno, "cannot open it as uid %d: %s" % (learner.uid, e.strerror))
    try:
        out, _ = helper.communicate(data, timeout=HELPER_SECONDS)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.wait()
        raise OSError(errno.ETIMEDOUT, "no answer within %d s (a FIFO? a stuck mount?)"
                      % HELPER_SECONDS, str(path))
    try:
        if len(out) > MAX_ANSWER:
            raise ValueError("too long")
        answer = json.loads(out)
        if "ok" in answer:
            return answer["ok"]
        raise OSError(int(answer["errno"]), str(answer["strerror"]), str(path))
    except (ValueError, KeyError, TypeError):
        raise OSError(errno.EIO, "the helper that opens it as uid %d failed (exit %s)"
                      % (learner.uid, helper.returncode), str(path))


def _named(error, path):
    """OSError with the path in it (as a failed open names it)."""
    if error.filename is None:
        error.filename = str(path)
    return error


def look(path):
    """{"kind": "missing" | "dir" | "file" | "other"}; a folder also gives
    "py_files", its regular .py files. Raises OSError (permission denied...)."""
    learner = acting_for()
    if learner is None:
        return _look(path)
    return _as_learner(learner, "look", path)


def read_bytes(path, limit):
    """The contents of a regular file. Raises OSError: EINVAL not a regular
    file, EFBIG more than `limit` bytes (strerror: how many), else as open()."""
    learner = acting_for()
    try:
        if learner is None:
            return _read(str(path), limit)
        encoded = _as_learner(learner, "read", path, limit=limit)
        if not isinstance(encoded, str):
            raise OSError(errno.EIO, "the helper gave no data")
        return base64.b64decode(encoded)[:limit]
    except OSError as e:
        raise _named(e, path)


def write_bytes(path, data, atomic=False):
    """Write a file (created with the learner's rights, so theirs). Raises
    OSError; a refused path is left as it was."""
    learner = acting_for()
    try:
        if learner is None:
            _write(str(path), data, atomic)
        else:
            _as_learner(learner, "write", path, data=data, atomic=atomic)
    except OSError as e:
        raise _named(e, path)


if __name__ == "__main__":
    _helper_main()
