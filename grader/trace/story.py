"""What a trace says, in sentences tied to the lesson, and the time span
worth drawing (shared by the text and the SVG forms)."""

from ..i18n import _, ngettext


def counted(trace):
    """The summary's counts, each also as a phrase ("128 children")."""
    s = dict(trace.summary, clients=trace.clients, running=trace.running_at_end)
    phrases = {
        "n_clients": ngettext("%d client", "%d clients", s["clients"]),
        "n_connections": ngettext("%d connection", "%d connections", s["accepted"]),
        "n_forked": ngettext("%d child", "%d children", s["forked"]),
        "n_exited": ngettext("%d child", "%d children", s["exited"]),
        "n_running": ngettext("%d child was", "%d children were", s["running"]),
        "n_runs": ngettext("%d time", "%d times", s["handler_runs"]),
        "n_reaped": ngettext("%d child", "%d children", s["reaped"]),
        "n_zombies": ngettext("%d zombie", "%d zombies", s["zombies"]),
        "n_zombies_ps": ngettext("%d zombie", "%d zombies", s["zombies_ps"]),
        "n_interrupted": ngettext("%d time", "%d times", s["accept_interrupted"] or 0),
        "n_delivered": ngettext("%d time", "%d times", s["sigchld"] or 0),
        "n_merged": ngettext("%d time", "%d times", s["sigchld_merged"] or 0),
    }
    number = {"n_clients": "clients", "n_connections": "accepted", "n_forked": "forked",
              "n_exited": "exited", "n_running": "running", "n_runs": "handler_runs",
              "n_reaped": "reaped", "n_zombies": "zombies", "n_zombies_ps": "zombies_ps",
              "n_interrupted": "accept_interrupted", "n_delivered": "sigchld",
              "n_merged": "sigchld_merged"}
    for key, phrase in phrases.items():
        s[key] = phrase % (s[number[key]] or 0)
    return s


def sentences(trace):
    s = trace.summary
    c = counted(trace)
    said = []
    if s["forked"] == 0:
        said.append(_("%(n_clients)s: the server accepted %(n_connections)s and forked no "
                      "child: the listening process served each client itself, one after "
                      "another (stages 3a, 3b).") % c)
    else:
        said.append(_("%(n_clients)s: the server accepted %(n_connections)s and forked "
                      "%(n_forked)s.") % c)
        if trace.running_at_end:
            said.append(_("%(n_running)s still running when the trace ended (a child that "
                          "sleeps, like 3c's, outlives it).") % c)
    if s["exited"]:
        said.append(_reaping(c))
    if s["sigchld"] is not None and s["exited"]:
        said.append(_signals(trace, c))
    if s["accept_interrupted"]:
        said.append(_("accept() was interrupted by a signal %(n_interrupted)s (ERESTARTSYS): "
                      "the kernel ran the handler, and the call was restarted (Python retries "
                      "it since 3.5, PEP 475; Python 2 raised EINTR, stage 3e).") % c)
    elif s["accept_interrupted"] == 0 and s["handler_runs"]:
        said.append(_("No accept() was interrupted: the signals came while it was not blocked."))
    fds = s["parent_fds_max"]
    if s["forked"] and fds >= min(trace.clients, s["accepted"]) + 3 and s["accepted"] > 1:
        said.append(_("The listening process held up to %(parent_fds_max)d descriptors: it does "
                      "not close its copy of each connection (stage 3d), so they pile up.") % c)
    elif fds:
        said.append(_("The listening process held at most %(parent_fds_max)d descriptors.") % c)
    if s["zombies"] != s["zombies_ps"]:
        said.append(_("The trace counts %(n_zombies)s, but /proc shows %(zombies_ps)d at the "
                      "end: the recording missed something; trust /proc.") % c)
    if trace.mode == "syscalls":
        said.append(_("(--syscalls: strace stops the server at every system call and signal, "
                      "which changes the timing: counts differ from an untraced run.)"))
    return said


def _reaping(c):
    if c["handler_runs"] == 0 and c["reaped"] == 0:
        return _("%(n_exited)s exited and nothing waited for them: %(n_zombies)s. An exited "
                 "child stays a zombie until its parent calls wait() (stage 3e installs a "
                 "SIGCHLD handler that does).") % c
    if c["handler_runs"] == 0:
        return _("%(n_exited)s exited; %(n_reaped)s reaped without a SIGCHLD handler (a wait "
                 "call in the loop, or SIGCHLD ignored): %(n_zombies)s.") % c
    if c["zombies"]:
        per_run = (_("one child each time") if c["reaped"] == c["handler_runs"] else
                   _("more than one child in some runs") if c["reaped"] > c["handler_runs"] else
                   _("fewer children than runs"))
        return _("%(n_exited)s exited; the SIGCHLD handler ran %(n_runs)s and reaped "
                 "%(per_run)s: %(reaped)d reaped, %(n_zombies)s. One wait per signal is not "
                 "enough when signals merge: loop over os.waitpid(-1, os.WNOHANG) until it "
                 "returns (0, 0) (stage 3g).") % dict(c, per_run=per_run)
    if c["reaped"] == c["exited"] and c["handler_runs"] < c["exited"]:
        return _("%(n_exited)s exited; the SIGCHLD handler ran only %(n_runs)s, yet all "
                 "%(reaped)d were reaped and no zombie is left: each run loops over "
                 "waitpid(-1, WNOHANG) and reaps every child that has exited, however many "
                 "signals merged (stage 3g).") % c
    return _("%(n_exited)s exited; the SIGCHLD handler ran %(n_runs)s and reaped "
             "%(n_reaped)s: no zombie is left.") % c


def _signals(trace, c):
    if trace.sigchld_source != "kernel":
        return _("strace saw SIGCHLD arrive %(n_delivered)s (it separates signals that would "
                 "have merged, so an untraced run sees fewer).") % c
    if not c["sigchld"] and not c["sigchld_merged"]:
        return _("The kernel raised SIGCHLD once per exit and discarded it: with no handler "
                 "installed, SIGCHLD's default action is to ignore it.")
    if c["sigchld_merged"]:
        return _("The kernel raised SIGCHLD once per exit: %(n_delivered)s it found none "
                 "pending and delivered it, %(n_merged)s one was already pending and the new "
                 "one merged into it. Signals of one kind are not queued.") % c
    return _("The kernel raised SIGCHLD once per exit and delivered each (%(sigchld)d): none "
             "merged this time.") % c


def span(trace):
    """(start, last, end): the trace's times worth drawing run from `start`
    to a little after `last`, the last event; `end` is when the server was
    stopped (after the settling time, when little happens)."""
    times = [e["t"] for e in trace.events] + [t for t, _n in trace.fds]
    last = max(times, default=0.0)
    return 0.0, max(last * 1.05, 0.001), max(trace.end, last)
