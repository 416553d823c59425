"""Demo: one stage's demo. It sets up a working directory, opens the
article's terminals, narrates and asserts each step, and always cleans up;
`run` turns the outcome into the exit status."""

import argparse
import os
import re
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import psutil

from grader import i18n
from grader.i18n import _, N_
from grader.identity import claim_server_uid, client_uid, is_root
from grader.processes import alive, become_subreaper, children, reap_strays, zombies
from grader.sandbox import GraderError, python_for
from grader.stages import find_stage

from .probes import PORT, can_bind, describe_processes, listeners
from .screen import Screen
from .terminal import WINDOW, Terminal

LABS_DIR = Path(__file__).resolve().parent.parent
TMP_PREFIX = "lab-demo-"          # tests look for leftovers by this prefix
SERVER_WRITES = "server.log"      # the one file of the working directory a terminal writes
EXIT_OK, EXIT_NOT_REPRODUCED, EXIT_ENVIRONMENT, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
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
            # counts per uid, so we must not share one. It fails with
            # RuntimeError (every uid taken, a lock folder not root's) or
            # OSError (a lock it cannot open, such as a link): not our bug.
            try:
                self._claim = claim_server_uid()
            except (RuntimeError, OSError) as exc:
                raise EnvironmentProblem(str(exc))
            self.server_uid = self._claim.uid
        self._remove_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix="{}{}-".format(TMP_PREFIX, self.stage.id)))
        (self.workdir / "bin").mkdir()
        for source in sorted(self.stage.directory.glob("*.py")):
            if source.name != "demo.py":
                shutil.copy(source, self.workdir / source.name)
        for source in self.stage.launch.files:      # its apps kept in another stage's folder
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
        become_subreaper()
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
    def wait_port_free(self, timeout=10):
        """No process may LISTEN on 8888 (TIME_WAIT is fine: SO_REUSEADDR).
        Another one may for a few seconds (a `lab check` ending)."""
        deadline = time.monotonic() + timeout
        said = False
        while True:
            pids = listeners()
            if not pids and can_bind():
                return
            if not said:
                self.note(_("port {} is in use by {}: waiting up to {} s for it").format(
                    PORT, describe_processes(pids), timeout))
                said = True
            if time.monotonic() >= deadline:
                raise EnvironmentProblem(
                    _("port {} is in use by {}: stop it first (`ss -ltnp 'sport = :{}'`)").format(
                        PORT, describe_processes(pids), PORT))
            time.sleep(0.2)

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
                PORT, describe_processes(listeners())))

    # ------------------------------------------------------------ zombies --
    def settle(self, server_proc, timeout=15):
        """Wait until every child of the server has exited (zombies left as
        they are); return the zombie children."""
        deadline = time.monotonic() + timeout
        while any(alive(kid) for kid in children(server_proc)) and time.monotonic() < deadline:
            self.pause(0.2)
        self.pause(0.5)             # let a last SIGCHLD be handled
        return zombies(server_proc)

    def bursts_leave_no_zombie(self, server_proc, client, observer, bursts, clients):
        """`bursts` bursts of `clients` simultaneous clients (client3.py), the
        server's children shown in ps after each: a reaping server has no
        zombie after any, and survives them all."""
        for burst in range(1, bursts + 1):
            self.step(_("burst {} of {}: {} clients").format(burst, bursts, clients))
            client.run("python3 client3.py --max-clients {} > /dev/null".format(clients),
                       timeout=60, what=_("client3.py to finish"))
            left = self.settle(server_proc)
            observer.run("ps -o pid,ppid,stat,cmd -p {0} --ppid {0}".format(server_proc.pid))
            self.note(_("zombie children of the server after burst {}: {}").format(
                burst, len(left)))
            self.check(not left, _("0 zombies after burst {}").format(burst),
                       _("{} zombies: {}").format(len(left), [z.pid for z in left][:10]))
        self.check(server_proc.is_running(), _("the server to survive the bursts"),
                   _("it exited"))

    def reap_orphans(self, timeout=5):
        """Reap the orphans reparented to us (we are a child subreaper) once
        they have exited; the shells are pexpect's to wait for."""
        reap_strays(keep={t.pid for t in self.terminals}, kill=False, timeout=timeout,
                    interval=0.1)

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
            for attempt in range(5):         # again, in case one was forking
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
            while (set(listeners()) & set(killed)) and time.monotonic() < deadline:
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
