"""Taking a trace: what a server did with N simultaneous clients.

It starts the server the way `lab check` does (same sandbox, uid, limits and
clean-up), records it lightly (record.py; kernel.py where the kernel's
tracepoints can be read; syscalls.py with --syscalls), sends the clients,
waits (bounded) for the children to exit, lets the server settle, stops it
and puts the records together into one `Trace`: children, events, summary.
"""

import time
from dataclasses import dataclass, field

from .. import observe, processes
from ..client import burst
from ..i18n import _
from ..runner import STARTUP_SECONDS
from ..sandbox import Sandbox
from . import kernel, syscalls
from .record import HookLog, ProcPoller, children_of, process_state

BURST_SECONDS = 20          # for every client to get its answer
EXIT_SECONDS = 15           # then for the children to exit
SETTLE_SECONDS = 2          # then for the server to reap them
MAX_CLIENTS = 1000


class TraceError(Exception):
    """The trace could not be taken (the server did not start, ...)."""


@dataclass
class Child:
    pid: int
    forked: float
    exited: float = None
    reaped: float = None
    reaped_by: int = None           # the pid whose wait call returned it, if seen


@dataclass
class Trace:
    submission: str
    clients: int
    mode: str                       # "light" or "syscalls"
    seconds: float = 0.0
    listener: int = 0
    answered: int = 0
    children: list = field(default_factory=list)
    events: list = field(default_factory=list)
    fds: list = field(default_factory=list)         # [(t, count)] of the listener
    zombies_ps: int = 0
    running_at_end: int = 0
    sigchld_source: str = None      # "kernel", "strace" or None: not observed
    sigchld_ignored: int = 0        # raised while SIGCHLD was ignored (no handler): discarded
    unobserved: list = field(default_factory=list)  # what could not be seen here, and why
    end: float = 0.0                # when the server was stopped (trace time)

    def count(self, kind, pid=None):
        return sum(1 for e in self.events if e["kind"] == kind
                   and (pid is None or e["pid"] == pid))

    @property
    def summary(self):
        exited = [c for c in self.children if c.exited is not None]
        reaped = [c for c in self.children if c.reaped is not None]
        observed_signals = self.sigchld_source is not None
        return {
            "accepted": self.count("accept", self.listener),
            "forked": len(self.children),
            "exited": len(exited),
            "handler_runs": self.count("handler", self.listener),
            "sigchld": (sum(1 for e in self.events if e["kind"] == "sigchld"
                            and not e.get("merged")) if observed_signals else None),
            "sigchld_merged": (sum(1 for e in self.events if e["kind"] == "sigchld"
                                   and e.get("merged")) if self.sigchld_source == "kernel"
                               else None),
            "reaped": len(reaped),
            "zombies": sum(1 for c in exited if c.reaped is None),
            "zombies_ps": self.zombies_ps,
            "accept_interrupted": (self.count("interrupted", self.listener)
                                   if self.mode == "syscalls" else None),
            "parent_fds_max": max((n for _, n in self.fds), default=0),
        }

    def to_json(self):
        return {
            "submission": self.submission,
            "clients": self.clients,
            "seconds": round(self.seconds, 3),
            "mode": self.mode,
            "summary": self.summary,
            "children": [{"pid": c.pid, "forked": _t(c.forked), "exited": _t(c.exited),
                          "reaped": _t(c.reaped)} for c in self.children],
            "events": [dict(e, t=_t(e["t"])) for e in self.events],
            "parent_fds": [{"t": _t(t), "count": n} for t, n in self.fds],
            "unobserved": self.unobserved,
        }


def _t(value):
    return None if value is None else round(value, 6)


def trace(stage, submission, clients=None, syscalls_view=False, port=8888,
          isolate_network=None, source=None):
    """Trace `submission` (a server file; `source`: its contents, read
    already with the user's rights) with `clients` simultaneous clients."""
    clients = clients or stage.trace_clients
    if not 1 <= clients <= MAX_CLIENTS:
        raise TraceError(_("--clients must be from 1 to %d") % MAX_CLIENTS)
    started = time.monotonic()
    hook = HookLog()
    try:
        with Sandbox(submission, port=port, isolate_network=isolate_network,
                     source=source, launch=stage.launch) as sandbox:
            owner = sandbox.port_owner()
            if owner:
                raise TraceError(_("port %d is already in use by %s: stop that server and run "
                                   "lab trace again") % (port, owner))
            server = sandbox.start(**hook.launch_options(sandbox))
            try:
                return _record(server, hook, clients, syscalls_view, str(submission), started)
            finally:
                server.stop()
    finally:
        hook.close()


def untraced_zombies(stage, submission, clients=None, port=8888):
    """The same clients, waits and settling as a trace, with nothing
    recorded: the zombies /proc shows at the end (what the recording's
    effect is measured against, in bench/)."""
    with Sandbox(submission, port=port, launch=stage.launch) as sandbox:
        server = sandbox.start()
        try:
            if server.wait_listening(STARTUP_SECONDS) is None:
                raise TraceError(_("the server did not listen on port %d") % port)
            burst(server, clients or stage.trace_clients, timeout=BURST_SECONDS,
                  give_up=lambda: not server.alive())
            _wait_for_children(server, EXIT_SECONDS)
            time.sleep(SETTLE_SECONDS)
            return processes.count_children(server.process)[0]
        finally:
            server.stop()


def _record(server, hook, clients, syscalls_view, submission, started):
    if server.wait_listening(STARTUP_SECONDS) is None:
        time.sleep(0.1)
        last = server.output.text().strip().splitlines()[-1:] or [""]
        raise TraceError(_("%s%s: run lab check for the reason")
                         % (_("the server did not listen on port %d within %d s")
                            % (server.port, STARTUP_SECONDS) if server.alive() else
                            _("the server %s before it listened on port %d")
                            % (server.exit_description(), server.port),
                            ": " + last[0] if last[0] else ""))
    result = Trace(submission=submission, clients=clients,
                   mode="syscalls" if syscalls_view else "light", listener=server.pid)
    why_not = kernel.unavailable()
    signals = None
    if why_not is None:
        try:
            signals = kernel.SignalTrace(server.pid)
        except OSError as e:
            why_not = _("kernel tracing failed: %s") % (e.strerror or e)
    strace = None
    if syscalls_view:
        try:
            strace = syscalls.Strace(server.pid)
        except syscalls.Unavailable as e:
            if signals:
                signals.close()
            raise TraceError(str(e))
    poller = ProcPoller(server.pid)
    t0 = time.monotonic()
    poller.start()
    try:
        result.answered = burst(server, clients, timeout=BURST_SECONDS,
                                give_up=lambda: not server.alive())
        _wait_for_children(server, EXIT_SECONDS)
        time.sleep(SETTLE_SECONDS)
        poller.stop()
        result.zombies_ps, result.running_at_end = processes.count_children(server.process)
        result.end = time.monotonic() - t0
    finally:
        poller.stop()
        kernel_signals, strace_events = [], []
        try:
            if signals:
                kernel_signals = signals.stop()
        finally:
            if signals:
                signals.close()
            if strace:
                strace.stop()
                strace_events = strace.events()
                strace.close()
    _assemble(result, t0, hook.records(), poller, kernel_signals, strace_events)
    if signals:
        result.sigchld_source = "kernel"
    elif strace:
        result.sigchld_source = "strace"
        result.unobserved.append(_("SIGCHLD is counted by strace, which separates signals "
                                   "that would have merged (%s)") % (why_not or ""))
    else:
        result.unobserved.append(_("SIGCHLD arrivals: %s") % why_not)
    if not syscalls_view:
        result.unobserved.append(_("interrupted accept() calls: use --syscalls"))
    result.seconds = time.monotonic() - started
    return result


def _wait_for_children(server, bound):
    """Until no child of the server is running (zombies have exited), or
    `bound` seconds, or until one is seen asleep for longer than that."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and server.alive():
        running = [pid for pid in children_of(server.pid)
                   if process_state(pid) not in (None, "Z", "X")]
        if not running:
            return
        left = deadline - time.monotonic()
        if any((observe.sleep_left(pid) or 0) > left for pid in running[:8]):
            return
        time.sleep(0.05)


def _assemble(result, t0, records, poller, kernel_signals, strace_events):
    """One list of children and one timeline from every source; times in
    seconds since t0. Where two sources saw the same thing, the more exact
    one wins: the hook and strace see a call as it returns, the poller only
    within its interval."""
    listener = result.listener
    children = {}

    def child(pid, t):
        if pid not in children:
            children[pid] = Child(pid=pid, forked=t)
        return children[pid]

    events = []
    for r in records:
        t = r.t - t0
        if r.kind == "fork" and r.value == listener:
            child(r.pid, t).forked = t
            events.append({"t": t, "pid": r.pid, "kind": "fork", "parent": listener})
        elif r.kind == "reap" and r.pid == listener and isinstance(r.value, int):
            c = child(r.value, t)
            c.reaped, c.reaped_by = t, r.pid
        elif r.kind in ("accept", "close", "handler") and r.pid == listener:
            events.append({"t": t, "pid": r.pid, "kind": r.kind})
    for t, pid, kind, value in strace_events:
        t -= t0
        if kind == "clone" and pid == listener and value not in children:
            child(value, t)
            events.append({"t": t, "pid": value, "kind": "fork", "parent": listener})
        elif kind == "reap" and pid == listener:
            c = child(value, t)
            if c.reaped is None:
                c.reaped, c.reaped_by = t, pid
        elif kind == "exit" and pid in children:
            children[pid].exited = t
        elif kind == "interrupted" and pid == listener or \
                kind == "sigchld" and pid == listener and not kernel_signals:
            events.append({"t": t, "pid": pid, "kind": kind})
        elif kind == "accept" and pid == listener and not any(
                e["kind"] == "accept" for e in events):
            pass            # the hook counts accepts; strace's are the same calls
    result.sigchld_ignored = sum(1 for _, outcome in kernel_signals if outcome == "ignored")
    for t, outcome in kernel_signals:
        if outcome != "ignored":
            events.append({"t": t - t0, "pid": listener, "kind": "sigchld",
                           "merged": outcome == "merged"})
    for seen in poller.children.values():
        c = child(seen.pid, seen.first_seen - t0)
        if c.exited is None:
            if seen.zombie_seen is not None:
                c.exited = seen.zombie_seen - t0
            elif seen.gone_seen is not None:
                # exited and reaped between two polls: it exited by then
                c.exited = min(seen.gone_seen - t0, c.reaped if c.reaped is not None
                               else float("inf"))
        if c.reaped is None and seen.gone_seen is not None:
            c.reaped = seen.gone_seen - t0
    # a child the wait call returned has exited, whatever a poll missed
    for c in children.values():
        if c.reaped is not None and c.exited is None:
            c.exited = c.reaped
        if c.exited is not None and c.exited < c.forked:
            c.exited = c.forked
    forked = {e["pid"] for e in events if e["kind"] == "fork"}
    for c in children.values():
        if c.pid not in forked:         # seen by the poller only (not forked by Python)
            events.append({"t": c.forked, "pid": c.pid, "kind": "fork", "parent": listener})
        if c.exited is not None:
            events.append({"t": c.exited, "pid": c.pid, "kind": "exit"})
        if c.reaped is not None:
            events.append({"t": c.reaped, "pid": c.pid, "kind": "reap",
                           "by": c.reaped_by if c.reaped_by is not None else listener})
    result.children = sorted(children.values(), key=lambda c: (c.forked, c.pid))
    result.events = sorted(events, key=lambda e: e["t"])
    result.fds = [(t - t0, n) for t, n in poller.fds]
