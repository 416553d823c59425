"""Terminal: one bash shell of the article, driven through a pseudo-terminal
(pexpect) by a Demo, its output shown live on the Demo's Screen."""

import os
import re
import time

import pexpect
import psutil

from grader.i18n import _
from grader.identity import client_uid, drop_privileges_argv, is_root
from grader.processes import alive

from .screen import TerminalLog

WINDOW = (40, 160)                # rows, columns of every terminal


class Terminal:
    """One bash shell of the article, driven through a pseudo-terminal."""

    def __init__(self, demo, name, as_server_uid=False, squash=None):
        self.demo = demo
        self.name = name
        if squash:
            demo.screen.squash[name] = re.compile(squash)
        self.prompt = "[{}]$ ".format(name)
        self.as_server_uid = as_server_uid and is_root()
        self.uid = demo.server_uid if as_server_uid else os.getuid()
        env = demo.shell_env(self.prompt)
        argv = ["bash", "--norc", "--noprofile", "--noediting", "-i"]
        if is_root():                   # never a root shell
            self.uid = demo.server_uid if as_server_uid else client_uid()
            argv = drop_privileges_argv(self.uid) + argv
        self.child = pexpect.spawn(
            argv[0], argv[1:], cwd=str(demo.workdir), env=env,
            encoding="utf-8", codec_errors="replace", dimensions=WINDOW,
            maxread=65536, echo=True,
            logfile=None)
        self.pid = self.child.pid
        self.closed = False
        demo.terminals.append(self)
        self.wait_prompt(15, _("the {} shell's first prompt").format(name))
        # from now on, show what it prints; its first prompt shows with the
        # first command typed into it
        self.child.logfile_read = TerminalLog(demo.screen, name)
        demo.screen.partial[name] = self.prompt

    # -- typing
    def run(self, command, timeout=10, what=None):
        """Type `command`, wait for the prompt to come back; return its output."""
        self.child.sendline(command)
        return self.wait_prompt(timeout, what or _("`{}` to finish").format(command))

    def start(self, command):
        """Type `command` and do not wait: it keeps running in this terminal."""
        self.child.sendline(command)

    def interrupt(self, timeout=10):
        """Ctrl-C the foreground job and wait for the prompt (and for the
        job's processes to be gone)."""
        self.child.sendintr()
        out = self.wait_prompt(timeout, _("the prompt after Ctrl-C in the {} terminal").format(self.name))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if not any(p.pid != self.pid and alive(p) for p in self.processes()):
                break
            self.demo.pause(0.1)
        return out

    def wait_prompt(self, timeout, what):
        self.expect(re.escape(self.prompt), timeout, what)
        return self.child.before

    # -- watching
    def expect(self, pattern, timeout, expected):
        """Wait at most `timeout` s for `pattern`; else the phenomenon failed.

        While waiting, every terminal is read as soon as it prints, so all
        output shows live and no program blocks on a full terminal (a slow
        reader would also slow the servers down and change what they show).
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.child.expect([regex], timeout=0)
                return self.child.match
            except pexpect.TIMEOUT:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.demo.not_reproduced(
                        expected + _(" (waited {:g} s)").format(timeout), self.tail())
                self.demo.pump(min(0.1, remaining))
            except pexpect.EOF:
                self.closed = True
                self.demo.not_reproduced(expected, _("the {} terminal closed: {}").format(
                    self.name, self.tail()))

    def expect_nothing(self, pattern, seconds, expected):
        """Assert `pattern` does NOT show within `seconds` (a hang)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.child.expect([regex], timeout=0)
                self.demo.not_reproduced(expected, _("it printed {!r}").format(self.child.after))
            except pexpect.TIMEOUT:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.demo.pump(min(0.1, remaining))
            except pexpect.EOF:
                self.closed = True
                self.demo.not_reproduced(expected, _("the {} terminal closed").format(self.name))

    def drain(self):
        """Read whatever the terminal printed (shown live, kept for expect)."""
        if self.closed:
            return
        for attempt in range(50):
            before = len(self.child.buffer)
            try:
                index = self.child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=0)
            except (OSError, ValueError):
                self.closed = True
                return
            if index == 1:
                self.closed = True
                return
            if len(self.child.buffer) == before:
                return

    def tail(self, chars=400):
        text = (self.child.before or "") + (self.child.buffer or "")
        text = text.replace("\r", "").strip()
        return repr(text[-chars:]) if text else _("nothing")

    # -- processes
    def processes(self):
        """Every live process of this terminal's session (the shell included)."""
        procs = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getsid(proc.pid) == self.pid:
                    procs.append(proc)
            except (OSError, psutil.Error):
                pass
        return procs

    def find(self, name=None, script=None, timeout=5):
        """The process of this session running `script` (or named `name`),
        the one whose parent is not itself such a process (the server, not
        one of its forked children). Waits up to `timeout` s for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = []
            for proc in self.processes():
                try:
                    cmdline = proc.cmdline()
                    pname = proc.name()
                except psutil.Error:
                    continue
                if script is not None:
                    ok = (pname.startswith("python")
                          and any(arg.endswith(script) for arg in cmdline[1:]))
                else:
                    ok = pname == name
                if ok:
                    found.append(proc)
            pids = {p.pid for p in found}
            roots = [p for p in found if p.ppid() not in pids]
            if roots:
                return roots[0]
            if time.monotonic() >= deadline:
                self.demo.not_reproduced(
                    _("a {} process in the {} terminal").format(script or name, self.name),
                    _("none is running; the terminal shows {}").format(self.tail()))
            self.demo.pause(0.1)
