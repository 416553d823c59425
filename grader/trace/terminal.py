"""The text form of a trace: the counts, the story, and a timeline that fits
the terminal: one row per child when there are few, a density view when
there are many. Widths are display widths (a CJK character takes two)."""

import shutil

from .. import i18n
from ..i18n import _, ngettext
from .story import sentences, span

FEW_CHILDREN = 16
LEVELS = " ▁▂▃▄▅▆▇█"
LABEL = 16                  # columns for a row's name


def render(trace, width=None):
    width = width or min(100, shutil.get_terminal_size((80, 24)).columns)
    s = trace.summary
    out = i18n.wrap(_("lab trace: %s") % trace.submission, width, "", "  ")
    out += ["  " + (ngettext("%(clients)d simultaneous client, %(mode)s recording, %(seconds).1f s",
                             "%(clients)d simultaneous clients, %(mode)s recording, "
                             "%(seconds).1f s", trace.clients)
                    % {"clients": trace.clients, "seconds": trace.seconds,
                       "mode": _("light") if trace.mode == "light" else _("syscalls")}),
            ""]
    for sentence in sentences(trace):
        out += i18n.wrap(sentence, width, "  ", "  ")
    out += [""]
    counts = ["%s %s" % (k, "-" if v is None else v) for k, v in s.items()]
    out += i18n.wrap("  ".join(counts), width, "  ", "  ")
    out += [""] + timeline(trace, width)
    for why in trace.unobserved:
        out += i18n.wrap(_("not observed: %s") % why, width, "  ", "    ")
    return "\n".join(out) + "\n"


def _row(name, text):
    return "  " + i18n.ljust(name, LABEL - 2) + text


def timeline(trace, width):
    start, last, end = span(trace)
    columns = max(20, width - LABEL - 2)
    scale = columns / (last - start)

    def column(t):
        return min(columns - 1, max(0, int((t - start) * scale)))

    ends = "%.3f s" % last
    rows = [_row(_("time"), "0" + " " * (columns - 1 - len(ends)) + ends)]
    parent = [" "] * columns
    marks = (("accept", "a"), ("sigchld", "s"), ("interrupted", "x"), ("handler", "H"))
    for kind, mark in marks:
        for e in trace.events:
            if e["kind"] == kind and e["pid"] == trace.listener:
                parent[column(e["t"])] = "m" if kind == "sigchld" and e.get("merged") else mark
    rows.append(_row(_("parent %d") % trace.listener, "".join(parent)))
    legend = _("a accept  H SIGCHLD handler  s SIGCHLD delivered  m merged  x accept interrupted")
    if len(trace.children) <= FEW_CHILDREN:
        for child in trace.children:
            rows.append(_row(_("child %d") % child.pid, _lane(child, column, columns)))
        legend += "  " + _("= running  z zombie  | reaped")
    else:
        for name, total, values in _densities(trace, column, columns):
            peak = max(values) or 1
            bar = "".join(LEVELS[0 if v == 0 else max(1, round(v / peak * 8))] for v in values)
            rows.append(_row("%s %d" % (name, total), bar))
        legend += "; " + _("rows: how many in each column of time; zombies: how many at once, "
                           "and at the end")
    if end > last + 0.01:
        legend += "; " + _("then nothing new until the server was stopped at %.1f s") % end
    return rows + i18n.wrap(legend, width, "  ", "  ") + [""]


def _lane(child, column, columns):
    lane = [" "] * columns
    stop = child.exited if child.exited is not None else None
    for i in range(column(child.forked), column(stop) + 1 if stop is not None else columns):
        lane[i] = "="
    if child.exited is not None:
        zombie_end = column(child.reaped) if child.reaped is not None else columns - 1
        for i in range(column(child.exited) + 1, zombie_end + 1):
            lane[i] = "z"
    if child.reaped is not None:
        lane[column(child.reaped)] = "|"
    return "".join(lane)


def _densities(trace, column, columns):
    """(name, its count, how many in each column); zombies: how many at
    once, its count the number at the end."""
    forks, exits, reaps, zombies = ([0] * columns for _n in range(4))
    for child in trace.children:
        forks[column(child.forked)] += 1
        if child.exited is not None:
            exits[column(child.exited)] += 1
            last = column(child.reaped) if child.reaped is not None else columns
            for i in range(column(child.exited), last):
                zombies[i] += 1
        if child.reaped is not None:
            reaps[column(child.reaped)] += 1
    handlers = [0] * columns
    for e in trace.events:
        if e["kind"] == "handler" and e["pid"] == trace.listener:
            handlers[column(e["t"])] += 1
    return [(_("forks"), sum(forks), forks), (_("exits"), sum(exits), exits),
            (_("handler runs"), sum(handlers), handlers), (_("reaps"), sum(reaps), reaps),
            (_("zombies"), trace.summary["zombies"], zombies)]
