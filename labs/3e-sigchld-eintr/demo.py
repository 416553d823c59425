"""lab demo 3e: a SIGCHLD handler reaps each child; accept() is interrupted.

The server's SIGCHLD handler calls os.wait(): one curl leaves no zombie.
Under strace you see the signal interrupt the parent's accept()
(ERESTARTSYS), the handler's wait4(), and accept() called again: Python 3.5+
retries it (PEP 475), where Python 2 raised "[Errno 4] Interrupted system
call". accept_eintr.py shows the raw EINTR by calling libc accept().
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import demolib  # noqa: E402
from demolib import _  # noqa: E402

FAST_SLEEP = 1
STRACE = "strace -e trace=accept4,wait4 -e signal=SIGCHLD "


def strace_works(demo):
    """Can the server's uid trace its own child here (strace installed,
    ptrace not forbidden by seccomp / Yama)?"""
    if os.environ.get("LAB_DEMO_NO_STRACE", "") not in ("", "0"):
        return False, "LAB_DEMO_NO_STRACE is set"
    if shutil.which("strace") is None:
        return False, "strace is not installed"
    argv = ["strace", "-o", "/dev/null", "true"]
    if demolib.is_root():
        argv = demolib.drop_privileges_argv(demo.server_uid) + argv
    try:
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=10, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if result.returncode != 0:
        return False, result.stdout.strip() or "strace failed"
    return True, ""


def body(demo):
    sleep = FAST_SLEEP if demo.fast else 3
    traced, why_not = strace_works(demo)

    demo.step(_("start the server under strace") if traced else _("start the server"))
    server = demo.server_terminal("server")
    command = "python3 webserver3e.py"
    if traced:
        demo.explain(_("strace shows the parent's accept4() and wait4() system calls and "
                       "the SIGCHLD signals it receives (no -f: the children are not traced). "
                       "A call that blocks is printed in two halves: `accept4(3, ` when it "
                       "starts, the rest when it returns."))
        command = STRACE + command
    else:
        demo.note(_("strace cannot be used here ({}): the server runs without it, and "
                    "accept_eintr.py below shows the interrupted system call instead.").format(why_not))
    if demo.fast:
        command = "LAB_SLEEP={} {}".format(FAST_SLEEP, command)
    server_proc = demo.start_server(server, command, "webserver3e.py")
    if traced:
        server.expect(r"accept4\(3, ", 5, _("the parent blocked in accept4()"))

    demo.step(_("one curl: the child exits after {} s, the handler reaps it").format(sleep))
    client = demo.client_terminal("client")
    client.start("curl http://localhost:8888/hello")
    client.expect(r"Hello, World!", 3, _("curl to print Hello, World!"))
    if traced:
        server.expect(r"\) = \? ERESTARTSYS", sleep + 8,
                      _("strace to show accept4() interrupted (= ? ERESTARTSYS) when the "
                        "child exits"))
        sig = server.expect(r"--- SIGCHLD \{[^\n]*si_pid=(\d+)", 5,
                            _("strace to show the SIGCHLD"))
        wait = server.expect(r"wait4\(-1, [^\n]*\) = (\d+)", 5,
                             _("the handler's wait4() in strace"))
        demo.check(sig.group(1) == wait.group(1), _("wait4() to reap the child that signalled"),
                   _("SIGCHLD from {}, wait4 returned {}").format(sig.group(1), wait.group(1)))
    done = server.expect(r"Child (\d+) terminated with status 0", sleep + 8,
                         _("the handler to print `Child N terminated with status 0`"))
    if traced:
        server.expect(r"accept4\(3, ", 5, _("accept4() to be called again after the handler"))
    client.wait_prompt(5, _("curl to end when the child closes the connection"))
    demo.pause(0.3)
    zombies = demolib.zombies(server_proc)
    demo.check(not zombies, _("no zombie child after the handler ran"),
               _("zombies {}").format([z.pid for z in zombies]))
    demo.ok(_("child {} was reaped by the SIGCHLD handler: no zombie").format(done.group(1)))
    observer = demo.observer_terminal()
    observer.run("ps -o pid,ppid,stat,cmd -p {0} --ppid {0}".format(server_proc.pid))
    if traced:
        demo.ok(_("strace showed accept4() = ? ERESTARTSYS, the SIGCHLD, the handler's "
                  "wait4(), then accept4() again"))
    demo.explain(_("The child's exit sent SIGCHLD to the parent while it was blocked in "
                   "accept(): the kernel interrupted the call (ERESTARTSYS; Python installs its "
                   "handlers without SA_RESTART, so the call fails with EINTR). On Python 2 "
                   "that surfaced as `[Errno 4] Interrupted system call` and crashed "
                   "webserver3e.py. Since Python 3.5 (PEP 475) the interpreter runs the "
                   "handler and calls accept() again itself: {}").format(
                     _("you saw the second accept4().") if traced else
                     _("the server did not crash (without strace you cannot see the "
                       "interruption here; the next step shows it).")))
    if traced:
        # Ctrl-C would reach strace too, which detaches and gives the prompt
        # back before Python has finished: interrupt Python alone instead.
        observer.run("kill -INT {}".format(server_proc.pid))
        server.wait_prompt(5, _("the server and strace to end"))
    else:
        server.interrupt()

    demo.step(_("the raw EINTR: libc accept() through ctypes"))
    client.run("python3 accept_eintr.py", timeout=20)
    demo.check("errno 4 (EINTR" in client.child.before,
               _("libc accept() to return -1 with errno 4 (EINTR)"),
               client.tail())
    demo.ok(_("libc accept() returned -1 with errno EINTR, as Python 2 saw it; Python's own "
              "accept() was retried"))

    if traced:
        demo.step(_("one client, traced with its system calls: the interrupted accept()"))
        counts = demo.trace("webserver3e.py", 1, syscalls=True)
        demo.check(counts["accept_interrupted"] >= 1 and counts["reaped"] == 1,
                   _("an interrupted accept() and one child reaped"),
                   _("{accept_interrupted} interrupted, {reaped} reaped").format(**counts))
        demo.ok(_("accept() interrupted {accept_interrupted} time(s); the handler ran "
                  "{handler_runs} time(s) and reaped {reaped} child").format(**counts))


if __name__ == "__main__":
    demolib.Demo("3e").run(body)
