"""What a trace says, in sentences tied to the lesson, and the time span
worth drawing (shared by the text and the SVG forms)."""


def sentences(trace):
    s = trace.summary
    said = []
    if s["forked"] == 0:
        said.append("%d client%s: the server accepted %d connection%s and forked no child: "
                    "the listening process served each client itself, one after another "
                    "(stages 3a, 3b)." % (_n(trace.clients) + _n(s["accepted"])))
    else:
        said.append("%d client%s: the server accepted %d connection%s and forked %d "
                    "child%s." % (_n(trace.clients) + _n(s["accepted"]) + (s["forked"], _es(s["forked"]))))
        if trace.running_at_end:
            said.append("%d %s still running when the trace ended (a child that sleeps, "
                        "like 3c's, outlives it)." % (trace.running_at_end,
                                                     "was" if trace.running_at_end == 1 else "were"))
    if s["exited"]:
        said.append(_reaping(s))
    if s["sigchld"] is not None and s["exited"]:
        if trace.sigchld_source == "kernel" and not s["sigchld"] and not s["sigchld_merged"]:
            said.append("The kernel raised SIGCHLD once per exit and discarded it: with no "
                        "handler installed, SIGCHLD's default action is to ignore it.")
        elif trace.sigchld_source == "kernel":
            merged = s["sigchld_merged"] or 0
            said.append("The kernel raised SIGCHLD once per exit: %d time%s it found none "
                        "pending and delivered it, %d time%s one was already pending and the "
                        "new one merged into it. Signals of one kind are not queued."
                        % (_n(s["sigchld"]) + _n(merged)) if merged else
                        "The kernel raised SIGCHLD once per exit and delivered each (%d): none "
                        "merged this time." % s["sigchld"])
        else:
            said.append("strace saw SIGCHLD arrive %d time%s (it separates signals that would "
                        "have merged, so an untraced run sees fewer)." % _n(s["sigchld"]))
    if s["accept_interrupted"]:
        said.append("accept() was interrupted by a signal %s (ERESTARTSYS): the kernel "
                    "ran the handler, and the call was restarted (Python retries it since 3.5, "
                    "PEP 475; Python 2 raised EINTR, stage 3e)." % _times(s["accept_interrupted"]))
    elif s["accept_interrupted"] == 0 and s["handler_runs"]:
        said.append("No accept() was interrupted: the signals came while it was not blocked.")
    fds = s["parent_fds_max"]
    if s["forked"] and fds >= min(trace.clients, s["accepted"]) + 3 and s["accepted"] > 1:
        said.append("The listening process held up to %d descriptors: it does not close its "
                    "copy of each connection (stage 3d), so they pile up." % fds)
    elif fds:
        said.append("The listening process held at most %d descriptors." % fds)
    if s["zombies"] != s["zombies_ps"]:
        said.append("The trace counts %d zombie%s, but /proc shows %d at the end: the recording "
                    "missed something; trust /proc." % (_n(s["zombies"]) + (s["zombies_ps"],)))
    if trace.mode == "syscalls":
        said.append("(--syscalls: strace stops the server at every system call and signal, "
                    "which changes the timing: counts differ from an untraced run.)")
    return said


def _reaping(s):
    exited, runs, reaped, zombies = s["exited"], s["handler_runs"], s["reaped"], s["zombies"]
    head = "%d child%s exited" % (exited, _es(exited))
    if runs == 0 and reaped == 0:
        return ("%s and nothing waited for them: %d zombie%s. An exited child stays a zombie "
                "until its parent calls wait() (stage 3e installs a SIGCHLD handler that does)."
                % (head,) + _n(zombies))
    if runs == 0:
        return ("%s; %d %s reaped without a SIGCHLD handler (a wait call in the loop, or "
                "SIGCHLD ignored): %d zombie%s." % (head, reaped, _was(reaped)) + _n(zombies))
    per_run = ("one child each time" if reaped == runs else
               "more than one child in some runs" if reaped > runs else
               "fewer children than runs")
    if zombies:
        return ("%s; the SIGCHLD handler ran %d time%s and reaped %s: %d reaped, %d zombie%s. "
                "One wait per signal is not enough when signals merge: loop over "
                "os.waitpid(-1, os.WNOHANG) until it returns (0, 0) (stage 3g)."
                % ((head,) + _n(runs) + (per_run, reaped) + _n(zombies)))
    if reaped == exited and runs < exited:
        return ("%s; the SIGCHLD handler ran only %d time%s, yet all %d were reaped and no "
                "zombie is left: each run loops over waitpid(-1, WNOHANG) and reaps every "
                "child that has exited, however many signals merged (stage 3g)."
                % ((head,) + _n(runs) + (reaped,)))
    return ("%s; the SIGCHLD handler ran %s and reaped %d: no zombie is left."
            % (head, _times(runs), reaped))


def span(trace):
    """(start, last, end): the trace's times worth drawing run from `start`
    to a little after `last`, the last event; `end` is when the server was
    stopped (after the settling time, when little happens)."""
    times = [e["t"] for e in trace.events] + [t for t, _ in trace.fds]
    last = max(times, default=0.0)
    return 0.0, max(last * 1.05, 0.001), max(trace.end, last)


def _n(value):
    return (value, "" if value == 1 else "s")


def _times(value):
    return "once" if value == 1 else "twice" if value == 2 else "%d times" % value


def _es(value):
    return "" if value == 1 else "ren"


def _was(value):
    return "was" if value == 1 else "were"
