"""Shared harness for the stage demos (`lab demo 3X`).

Each demo drives real `bash` shells through pexpect, one per terminal of the
article ("server", "client", ...), types the article's commands into them,
echoes every terminal live to your screen with the terminal's name in front
of each line, explains what happened, and *asserts* the phenomenon: when it
does not show, the demo prints

    PHENOMENON NOT REPRODUCED: <what was expected> / <what was seen>

and exits 1. It exits 0 when every assertion held, 2 when the environment
cannot run it (port 8888 taken, a tool missing), 3 on a bug in the demo
itself, 130 on Ctrl-C (or SIGTERM). A demo running longer than DEADLINE
seconds stops itself (exit 1).

Everything is bounded: every wait has a timeout, every load is a fixed
client3.py count, and the demo always cleans up (also on failure or Ctrl-C):
it kills the session of every shell it opened, then every process left
(of the server's uid, or of ours) that runs from its working directory, and
reaps what is left (it is a child subreaper), so no server, client or
zombie survives it. It does not kill every process of the server's uid:
`lab check` may be using that uid at the same time.

As root the server terminal runs as an unprivileged server uid, claimed like
`lab check` claims one (grader.identity.claim_server_uid(): `labserver` /
64123 / LAB_SERVER_UID, or the next one while another grader holds it):
`ulimit -u` never binds root, and a different uid keeps the experiments away
from your own processes. The observer terminals (ps, kill) run as that uid
too, as in the article, where one user starts and watches the server. The
client terminals run as a uid of their own (`labclient` / 64100): their
processes do not count against the server's `ulimit -u`, and no terminal of
a demo is a root shell. As anyone else, every terminal runs as you.
"""

import argparse
import ctypes
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

try:
    import pexpect
    import psutil
except ImportError as exc:  # pragma: no cover - depends on the install
    sys.exit("the demos need the Python packages pexpect and psutil "
             "(pip install pexpect psutil): {}".format(exc))

LABS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = LABS_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from grader import i18n  # noqa: E402
from grader.i18n import _, N_, ngettext  # noqa: E402
from grader.identity import (claim_server_uid, client_uid,  # noqa: E402
                             drop_privileges_argv, is_root)
from grader.sandbox import GraderError, python_for  # noqa: E402
from grader.stages import find_stage  # noqa: E402

PORT = 8888
TMP_PREFIX = "lab-demo-"          # tests look for leftovers by this prefix
SERVER_WRITES = "server.log"      # the one file of the working directory a terminal writes
WINDOW = (40, 160)                # rows, columns of every terminal
EXIT_OK, EXIT_NOT_REPRODUCED, EXIT_ENVIRONMENT, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
PR_SET_CHILD_SUBREAPER = 36
DEADLINE = 100                    # s: a demo that runs longer is stopped (~20 s normally)


# For the burst demos (3f, 3g): why the output goes to files, and the
# lines of client3.py to fold.
BURST_OUTPUT_NOTE = N_("The server's output goes to server.log and client3.py's to /dev/null. "
              "Printing 128 requests (and 128 lines of client3.py) to a terminal would flood "
              "the screen, and it also spreads the burst out: every write to a terminal "
              "takes its turn, so the processes line up and fewer children exit at the same "
              "moment. By hand, both printing to terminals, 3f leaves fewer zombies (about "
              "10-25 of 128 instead of 60-95), but still some.")
CLIENT3_LINES = r"\d+|connection \d+: .*"

class PhenomenonNotReproduced(Exception):
    pass


class EnvironmentProblem(Exception):
    pass


class Interrupted(Exception):
    pass


# --------------------------------------------------------------- output ---

class Screen:
    """Writes narration and the terminals' output to our stdout.

    Every line a terminal prints is shown as `  name | text`, so the learner
    always knows which of the article's terminals it came from.
    """

    SHOW = 3        # of a run of squashed lines, show the first SHOW

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.colour = self.stream.isatty() and os.environ.get("NO_COLOR") is None
        self.open_line = None     # name of the terminal whose line is unfinished
        self.partial = {}         # each terminal's unfinished last line
        self.width = 8
        self.squash = {}          # terminal name -> regex of repetitive lines
        self.held = {}            # squashed terminal -> its unfinished line
        self.run = {}             # squashed terminal -> length of the current run
        self.hidden = {}          # squashed terminal -> lines not shown in it

    def _style(self, text, code):
        return "\033[{}m{}\033[0m".format(code, text) if self.colour else text

    def end_line(self):
        self.flush_held()
        if self.open_line is not None:
            self.stream.write("\n")
            self.open_line = None

    def terminal_output(self, name, text):
        text = text.replace("\r", "")
        if not text:
            return
        for other in list(self.held):
            if other != name:
                self._flush_held(other)
        squash = self.squash.get(name)
        if squash is None:
            self._emit(name, text)
        else:
            *lines, rest = (self.held.pop(name, "") + text).split("\n")
            for line in lines:
                if squash.fullmatch(line):
                    self.run[name] = self.run.get(name, 0) + 1
                    if self.run[name] > self.SHOW:
                        self.hidden[name] = self.hidden.get(name, 0) + 1
                        continue
                else:
                    self._summary(name)
                    self.run[name] = 0
                self._emit(name, line + "\n")
            if rest:
                self.held[name] = rest
        self.stream.flush()

    def _summary(self, name):
        hidden = self.hidden.pop(name, 0)
        if hidden:
            self._emit(name, ngettext("... {} more line like these, not shown ...",
                                      "... {} more lines like these, not shown ...",
                                      hidden).format(hidden) + "\n")

    def _flush_held(self, name):
        self._summary(name)
        self.run[name] = 0
        rest = self.held.pop(name, "")
        if rest:
            self._emit(name, rest)

    def flush_held(self):
        for name in list(self.held) + list(self.hidden):
            self._flush_held(name)

    def _emit(self, name, text):
        for piece in re.split(r"(\n)", text):
            if piece == "\n":
                if self.open_line != name:           # resume, or an empty line
                    if self.open_line is not None:
                        self.stream.write("\n")
                        self.open_line = None
                    self._prefix(name)
                    self.stream.write(self.partial.get(name, ""))
                self.stream.write("\n")
                self.open_line = None
                self.partial[name] = ""
            elif piece:
                if self.open_line != name:
                    if self.open_line is not None:
                        self.stream.write("\n")
                    self._prefix(name)
                    # the terminal's unfinished line (its prompt) again
                    self.stream.write(self.partial.get(name, ""))
                    self.open_line = name
                self.stream.write(piece)
                self.partial[name] = self.partial.get(name, "") + piece

    def _prefix(self, name):
        self.stream.write(self._style("  {:>{w}} | ".format(name, w=self.width), "2"))

    def say(self, text, style=None, indent="", wrap=True):
        self.end_line()
        for paragraph in text.strip("\n").split("\n"):
            if not wrap:
                lines = [indent + paragraph]
            else:
                lines = i18n.wrap(paragraph, 100, indent, indent) or [""]
            for line in lines:
                self.stream.write((self._style(line, style) if style else line) + "\n")
        self.stream.flush()


class TerminalLog:
    """pexpect logfile_read target: forwards a terminal's output to the Screen."""

    def __init__(self, screen, name):
        self.screen, self.name = screen, name

    def write(self, text):
        self.screen.terminal_output(self.name, text)

    def flush(self):
        pass


# ------------------------------------------------------------- terminal ---

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
            if not [p for p in self.processes() if p.pid != self.pid and
                    _status(p) != psutil.STATUS_ZOMBIE]:
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
        for _ in range(50):
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


# ----------------------------------------------------------------- demo ---

class Demo:
    """One stage's demo: set up, run the steps, assert, always clean up."""

    def __init__(self, stage_id, description=""):
        self.stage = find_stage(stage_id)
        self.description = description
        self.screen = Screen()
        self.terminals = []
        self.workdir = None
        self.step_no = 0
        self.fast = False
        self.server_uid = os.getuid()   # as root: a claimed server uid (setup)
        self._claim = None
        self.started = time.monotonic()

    # ---------------------------------------------------------- narration --
    def title(self, text):
        self.screen.say("")
        self.screen.say("=" * 78, "1")
        self.screen.say(text, "1")
        self.screen.say("=" * 78, "1")

    def step(self, text):
        self.step_no += 1
        self.screen.say("")
        elapsed = "[{:.0f} s]".format(time.monotonic() - self.started)
        self.screen.say(i18n.ljust(_("--- Step {}: {} ").format(self.step_no, text), 72, "-")
                        + " " + elapsed, "1;36")

    def explain(self, text):
        self.screen.say(text, "33", indent="  >> ")

    def ok(self, text):
        self.screen.say("[OK] " + text, "1;32", indent="  ")

    def note(self, text):
        self.screen.say(text, None, indent="  .. ")

    def not_reproduced(self, expected, seen):
        raise PhenomenonNotReproduced(_("expected {}; saw {}").format(expected, seen))

    def check(self, condition, expected, seen):
        if not condition:
            self.not_reproduced(expected, seen)

    # ---------------------------------------------------------- terminals --
    def shell_env(self, prompt):
        env = {
            "PATH": "{}:{}".format(self.workdir / "bin",
                                   os.environ.get("PATH", "/usr/bin:/bin")),
            "HOME": str(self.workdir),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "TERM": "dumb",
            "PS1": prompt,
            "PS2": "> ",
            "PYTHONDONTWRITEBYTECODE": "1",
            "COLUMNS": str(WINDOW[1]),
            "LINES": str(WINDOW[0]),
        }
        for name in ("LC_ALL", "LAB_PYTHON"):
            if name in os.environ:
                env[name] = os.environ[name]
        return env

    def server_terminal(self, name="server", squash=None):
        """A terminal as the server's uid. `squash`: a regex of repetitive
        lines (a request printed 128 times) to show only a few of."""
        return Terminal(self, name, as_server_uid=True, squash=squash)

    def client_terminal(self, name="client", squash=None):
        """A terminal as the clients' uid (as root: labclient)."""
        return Terminal(self, name, as_server_uid=False, squash=squash)

    def observer_terminal(self, name="observer"):
        """A terminal that watches the server and signals it (ps, ss,
        kill): as the server's uid, as the article's user does."""
        return Terminal(self, name, as_server_uid=True)

    def drain(self, exclude=None):
        for term in self.terminals:
            if term is not exclude:
                term.drain()

    def pump(self, timeout):
        """Wait up to `timeout` s for any terminal to print; read them all."""
        fds = {t.child.child_fd: t for t in self.terminals
               if not t.closed and t.child.child_fd is not None and t.child.child_fd >= 0}
        if not fds:
            time.sleep(max(0.0, timeout))
            return
        try:
            ready, _, _ = select.select(list(fds), [], [], max(0.0, timeout))
        except (OSError, ValueError):
            ready = list(fds)
        for fd in ready:
            fds[fd].drain()

    def pause(self, seconds):
        """Sleep while keeping every terminal's output flowing."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.pump(min(0.1, remaining))

    # -------------------------------------------------------------- setup --
    def parse_args(self, argv):
        parser = argparse.ArgumentParser(
            prog="lab demo {}".format(self.stage.id),
            description=self.description or self.stage.lesson)
        parser.add_argument(
            "--fast", action="store_true",
            default=os.environ.get("LAB_DEMO_FAST", "") not in ("", "0"),
            help=_("shorten the servers' sleeps (LAB_SLEEP) where the demo "
                   "would otherwise wait (also LAB_DEMO_FAST=1)"))
        parser.add_argument("--lang", choices=sorted(i18n.LANGUAGES),
                            help=_("the language of the narration (default: LAB_LANG, "
                                   "else the locale)"))
        args = parser.parse_args(argv)
        if args.lang:
            i18n.use(args.lang)
        self.fast = args.fast
        return args

    def setup(self):
        for tool in ("bash",) + (("setpriv",) if is_root() else ()):
            if shutil.which(tool) is None:
                raise EnvironmentProblem(_("`{}` is not installed").format(tool))
        if is_root():
            # the first server uid no `lab check` (nor another demo) holds:
            # a grader kills every process of its uid, and RLIMIT_NPROC
            # counts per uid, so we must not share one
            try:
                self._claim = claim_server_uid()
            except RuntimeError as exc:
                raise EnvironmentProblem(str(exc))
            self.server_uid = self._claim.uid
        self._remove_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix="{}{}-".format(TMP_PREFIX, self.stage.id)))
        (self.workdir / "bin").mkdir()
        for source in sorted(self.stage.directory.glob("*.py")):
            if source.name != "demo.py":
                shutil.copy(source, self.workdir / source.name)
        shutil.copy(LABS_DIR / "client3.py", self.workdir / "client3.py")
        # `python3` in the server terminal is an interpreter the server's uid
        # can run (ours may live under /root).
        try:
            python = python_for(self.server_uid if is_root() else None)
        except GraderError as exc:          # no interpreter the server's uid can run
            raise EnvironmentProblem(str(exc))
        os.symlink(python, self.workdir / "bin" / "python3")
        # As root the folder and all in it stay root's (0755, files 0644):
        # no terminal may change what another runs (bin/, the servers), nor
        # what the demo reads back. The server's uid owns only the file its
        # terminal writes.
        os.chmod(self.workdir, 0o755)
        for path in [self.workdir / "bin"] + list(self.workdir.glob("*.py")):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        if is_root():
            log = self.workdir / SERVER_WRITES
            log.touch(mode=0o644)
            os.chown(log, self.server_uid, self.server_uid)
        # Orphans of the shells (a killed server's children) come back to us,
        # not to PID 1, so we can reap them: nothing is left as a zombie.
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        self.wait_port_free()

    @staticmethod
    def _remove_stale_workdirs(age=900):
        """Remove the working directories of demos that were killed before
        they could clean up (SIGKILL): older than `age` s, used by no process."""
        now = time.time()
        stale = []
        for path in Path(tempfile.gettempdir()).glob(TMP_PREFIX + "*"):
            try:
                if path.is_dir() and now - path.stat().st_mtime > age:
                    stale.append(str(path))
            except OSError:
                pass
        if not stale:
            return
        for proc in psutil.process_iter(["pid"]):
            try:
                cwd = proc.cwd()
            except psutil.Error:
                continue
            stale = [d for d in stale if not cwd.startswith(d)]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)

    def who(self):
        if is_root():
            return _("You are root, so the server and observer terminals run as the "
                     "unprivileged uid {} (like `lab check`), the client terminals as uid {} "
                     "(labclient).").format(self.server_uid, client_uid())
        return _("You are uid {}: every terminal runs as you.").format(os.getuid())

    # ----------------------------------------------------------- port 8888 --
    def listeners(self):
        found = []
        try:
            conns = psutil.net_connections(kind="tcp")
        except psutil.Error:
            conns = []
        for conn in conns:
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == PORT:
                found.append(conn.pid)
        return found

    def wait_port_free(self, timeout=10):
        """No process may LISTEN on 8888 (TIME_WAIT is fine: SO_REUSEADDR).
        Another one may for a few seconds (a `lab check` ending)."""
        deadline = time.monotonic() + timeout
        said = False
        while True:
            pids = self.listeners()
            if not pids and self._can_bind():
                return
            if not said:
                self.note(_("port {} is in use by {}: waiting up to {} s for it").format(
                    PORT, self._describe(pids), timeout))
                said = True
            if time.monotonic() >= deadline:
                raise EnvironmentProblem(
                    _("port {} is in use by {}: stop it first (`ss -ltnp 'sport = :{}'`)").format(
                        PORT, self._describe(pids), PORT))
            time.sleep(0.2)

    @staticmethod
    def _can_bind():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("", PORT))
            return True
        except OSError:
            return False
        finally:
            sock.close()

    @staticmethod
    def _describe(pids):
        names = []
        for pid in pids:
            if pid is None:
                names.append(_("a process of another user (run as root to see it)"))
                continue
            try:
                proc = psutil.Process(pid)
                names.append(_("PID {} ({}, user {}: {})").format(
                    pid, proc.name(), proc.username(), " ".join(proc.cmdline())[:120]))
            except psutil.Error:
                names.append("PID {}".format(pid))
        return ", ".join(names) or _("another program")

    def start_server(self, term, command, script, banner=True, timeout=15):
        """Type `command` (which runs `script`) in `term`; wait until the
        server listens on 8888; return its psutil.Process (the parent).

        `banner`: wait for "Serving HTTP on port 8888" too (False when its
        stdout goes to a file). If the port was taken meanwhile, that is the
        environment's fault, not the phenomenon's: say who took it.
        """
        self.wait_port_free()
        term.start(command)
        deadline = time.monotonic() + timeout
        pattern = re.compile(r"(Serving HTTP on port 8888)|(Address already in use)")
        proc = None
        while True:
            remaining = deadline - time.monotonic()
            if banner and proc is None:
                match = term.expect(pattern, max(0.0, remaining), _("the server's banner"))
                if match.group(2):
                    self._port_taken()
                proc = term.find(script=script, timeout=max(0.0, deadline - time.monotonic()))
            elif proc is None:
                proc = term.find(script=script, timeout=max(0.0, remaining))
            try:
                for conn in proc.connections(kind="tcp"):
                    if conn.status == psutil.CONN_LISTEN and conn.laddr.port == PORT:
                        return proc
            except psutil.Error:
                pass
            if re.search(r"Address already in use", term.child.buffer or ""):
                self._port_taken()
            if not proc.is_running() or time.monotonic() >= deadline:
                term.drain()
                if "Address already in use" in (term.child.before or "") + (term.child.buffer or ""):
                    self._port_taken()
                self.not_reproduced(_("the server listening on port {}").format(PORT),
                                    _("it is not listening: {}").format(term.tail()))
            self.pause(0.1)

    def _port_taken(self):
        raise EnvironmentProblem(
            _("port {} was taken by {} just as the server started: stop it first").format(
                PORT, self._describe(self.listeners())))

    # ------------------------------------------------------------ zombies --
    @staticmethod
    def children(proc):
        try:
            return proc.children()
        except psutil.Error:
            return []

    @staticmethod
    def zombies(proc):
        found = []
        for child in Demo.children(proc):
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    found.append(child)
            except psutil.NoSuchProcess:
                pass
            except psutil.Error:
                pass
        return found

    def settle(self, server_proc, timeout=15):
        """Wait until every child of the server has exited (zombies left as
        they are); return the zombie children."""
        deadline = time.monotonic() + timeout
        while True:
            kids = self.children(server_proc)
            alive = []
            for kid in kids:
                try:
                    if kid.status() != psutil.STATUS_ZOMBIE:
                        alive.append(kid)
                except psutil.Error:
                    pass
            if not alive or time.monotonic() >= deadline:
                break
            self.pause(0.2)
        self.pause(0.5)             # let a last SIGCHLD be handled
        return self.zombies(server_proc)

    def reap_orphans(self, timeout=5):
        """Reap the orphans reparented to us (we are a child subreaper)."""
        mine = {t.pid for t in self.terminals}
        deadline = time.monotonic() + timeout
        while True:
            others = [c for c in self.children(psutil.Process()) if c.pid not in mine]
            pending = False
            for child in others:
                try:
                    pid, _ = os.waitpid(child.pid, os.WNOHANG)
                    if pid == 0:
                        pending = True
                except ChildProcessError:
                    pass
            if not pending or time.monotonic() >= deadline:
                return
            time.sleep(0.1)

    # ------------------------------------------------------------ cleanup --
    def _in_workdir(self, proc):
        if self.workdir is None:
            return False
        root = str(self.workdir)
        try:
            if proc.cwd().startswith(root):
                return True
        except psutil.Error:
            pass
        try:
            return any(root in arg for arg in proc.cmdline())
        except psutil.Error:
            return False

    def _leftovers(self):
        """Every process the demo started that still exists."""
        found = {}
        # 1. the session of every shell: the shell, the server, its
        #    children, curl, client3 and its children
        for term in self.terminals:
            for proc in term.processes():
                found[proc.pid] = proc
        # 2. `pkill -u <server uid>`, limited to what runs from our
        #    directory (as root: the server's uid; else: us). `lab check`
        #    may be using the same uid right now: not ours to kill.
        me = os.getpid()
        for proc in psutil.process_iter(["pid"]):
            if proc.pid != me and proc.pid not in found and self._in_workdir(proc):
                found[proc.pid] = proc
        return found

    def cleanup(self):
        """Kill everything the demo started, wait for it, reap it."""
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.screen.end_line()
            killed = {}
            for _ in range(5):               # again, in case one was forking
                victims = {pid: p for pid, p in self._leftovers().items()
                           if pid not in killed}
                if not victims:
                    break
                for proc in victims.values():
                    try:
                        proc.kill()
                    except psutil.Error:
                        pass
                killed.update(victims)
                time.sleep(0.1)
            for term in self.terminals:
                try:
                    term.child.close(force=True)
                except Exception:  # noqa: BLE001 - best effort
                    pass
            # The killed processes' children (zombies included) are
            # reparented to us, the subreaper: reap until all are gone.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                self.reap_orphans(timeout=0)
                if not any(psutil.pid_exists(pid) for pid in killed):
                    break
                time.sleep(0.1)
            deadline = time.monotonic() + 5       # our server's port, released
            while (set(self.listeners()) & set(killed)) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
            if self._claim is not None:
                self._claim.release()
            signal.signal(signal.SIGINT, old_int)

    # -------------------------------------------------------------- trace --
    def trace(self, script, clients, syscalls=False):
        """`lab trace` on the demo's copy of a server, run here: its story,
        its counts and its picture (trace-NAME.svg: in ~/work in the
        container, else in the current folder, or in $LAB_TRACE_DIR).
        Returns the trace's summary."""
        from grader.cli import default_svg_path, write_results
        from grader.trace import run as tracing, svg, terminal
        self.wait_port_free()
        self.screen.say("$ lab trace {} --clients {}{} --svg".format(
            script, clients, " --syscalls" if syscalls else ""), "1")
        try:
            result = tracing.trace(self.stage, self.workdir / script, clients=clients,
                                   syscalls_view=syscalls)
        except (tracing.TraceError, GraderError) as exc:
            raise EnvironmentProblem(_("lab trace: {}").format(exc))
        result.submission = script
        self.screen.say(terminal.render(result, width=100), wrap=False)
        folder = os.environ.get("LAB_TRACE_DIR")
        picture = Path(folder) / "trace-{}.svg".format(Path(script).stem) if folder \
            else default_svg_path(Path(script))
        try:
            write_results(svg.render(result), picture)
            self.note(_("The picture of this trace: {}").format(picture.resolve()))
        except OSError as exc:
            self.note(_("The picture could not be written to {}: {}").format(picture, exc))
        return result.summary

    def trace_every_child_reaped(self, script, clients):
        """A step of its own: a burst of `clients` traced, and a waitpid
        loop's promise checked on it (every child that exited was reaped)."""
        self.step(_("a burst, traced: fewer signals than children, every child reaped"))
        counts = self.trace(script, clients)
        self.check(counts["zombies"] == 0 and counts["reaped"] == counts["exited"] == clients,
                   _("every child reaped"),
                   _("{reaped} of {exited} reaped, {zombies} zombies").format(**counts))
        self.ok(_("{exited} children exited, the handler ran {handler_runs} times, and all "
                  "{reaped} were reaped").format(**counts))
        return counts

    # ---------------------------------------------------------------- run --
    def run(self, body, argv=None):
        """Parse arguments, run body(self), clean up, exit with the verdict."""
        self.parse_args(sys.argv[1:] if argv is None else argv)

        def on_signal(signum, frame):
            raise Interrupted(signal.Signals(signum).name)

        def out_of_time(signum, frame):
            raise PhenomenonNotReproduced(
                _("the demo to finish within {} s; it was still running").format(DEADLINE))

        # Started from a background job (`nohup ... &` in a script, some CI),
        # a process inherits SIGINT ignored, and so would every shell we
        # open: the Ctrl-C the demo types into them would stop nothing.
        # A handler here is reset to the default in the programs we exec.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGHUP, on_signal)
        signal.signal(signal.SIGALRM, out_of_time)
        signal.alarm(DEADLINE)
        started = self.started = time.monotonic()
        code = EXIT_OK
        try:
            self.title("lab demo {}: {} - {}".format(
                self.stage.id, _(self.stage.title), _(self.stage.lesson)))
            self.setup()
            self.note(self.who())
            self.note(_("Working directory: {} (a copy of {}/ and client3.py){}").format(
                self.workdir, self.stage.slug, _("; --fast: shorter sleeps") if self.fast else ""))
            body(self)
        except PhenomenonNotReproduced as exc:
            self.screen.say("")
            self.screen.say(_("PHENOMENON NOT REPRODUCED: {}").format(exc), "1;31")
            code = EXIT_NOT_REPRODUCED
        except EnvironmentProblem as exc:
            self.screen.say("")
            self.screen.say(_("CANNOT RUN THIS DEMO HERE: {}").format(exc), "1;31")
            code = EXIT_ENVIRONMENT
        except (KeyboardInterrupt, Interrupted):
            self.screen.say("")
            self.screen.say(_("Interrupted: cleaning up."), "1;31")
            code = EXIT_INTERRUPTED
        except Exception:  # noqa: BLE001 - a bug in the demo itself
            self.screen.say("")
            self.screen.say(_("DEMO ERROR (a bug in the demo, not in the server):"), "1;31")
            self.screen.say(traceback.format_exc(), wrap=False)
            code = EXIT_ERROR
        finally:
            signal.alarm(0)
            self.cleanup()
        if code == EXIT_OK:
            self.screen.say("")
            self.screen.say(_("Demo {} complete: every phenomenon showed ({:.0f} s).").format(
                self.stage.id, time.monotonic() - started), "1;32")
        sys.stdout.flush()
        sys.exit(code)


# ------------------------------------------------------------- helpers ---

def _status(proc):
    try:
        return proc.status()
    except psutil.Error:
        return None


def ss_listen_queue():
    """(Recv-Q, Send-Q) of the socket listening on 8888, from `ss -ltn`.

    For a listening socket Recv-Q is the number of connections the kernel
    has completed that nobody accepted yet, Send-Q the backlog size.
    None when ss is not installed.
    """
    if shutil.which("ss") is None:
        return None
    out = subprocess.run(["ss", "-Hltn", "sport = :{}".format(PORT)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, timeout=10).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0] == "LISTEN":
            return int(fields[1]), int(fields[2])
    return None


def last_number(text):
    """The last line of `text` that is only a number (3d's client count)."""
    numbers = re.findall(r"^\s*(\d+)\s*$", (text or "").replace("\r", ""), re.M)
    return int(numbers[-1]) if numbers else None


def soft_limit(pid, name):
    """A process's soft limit from /proc/PID/limits ("Max open files",
    "Max processes"), as an int or "unlimited". Reading it needs no
    privilege (prlimit() on another uid's process needs CAP_SYS_RESOURCE)."""
    try:
        with open("/proc/{}/limits".format(pid)) as limits:
            for line in limits:
                if line.startswith(name):
                    value = line[len(name):].split()[0]
                    return int(value) if value.isdigit() else value
    except OSError:
        pass
    return None


def established_to_port(proc):
    """The ESTABLISHED TCP connections of `proc` to port 8888."""
    try:
        return [c for c in proc.connections(kind="tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == PORT]
    except psutil.Error:
        return []
