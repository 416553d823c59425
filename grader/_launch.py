"""Starts one server under test: run as `python3 -I -S _launch.py SPEC_JSON`.

It enters the server's network namespace, sets its resource limits, drops to
the server's uid and then execs the server, keeping its own pid, so the
grader's Popen is the server itself. It runs before any untrusted code, and
imports almost nothing so that it starts fast.
"""

import ctypes
import json
import os
import resource
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000


def main():
    spec = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    if spec.get("uid") is not None:
        # A private IPC namespace (best effort: it needs root): SysV shared
        # memory, semaphores and message queues die with the server's last
        # process instead of outliving it on the host.
        libc.unshare(CLONE_NEWIPC)
    if spec.get("netns_fd") is not None:
        if libc.setns(spec["netns_fd"], CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            sys.exit("lab: cannot enter the network namespace: " + os.strerror(err))
        os.close(spec["netns_fd"])
    for name, (soft, hard) in spec["limits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    os.chdir(spec["cwd"])
    uid = spec.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    os.umask(0o022)
    argv = spec["argv"]
    os.execve(argv[0], argv, spec["env"])


if __name__ == "__main__":
    main()
