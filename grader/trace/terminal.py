"""The text form of a trace: the counts, the story, and a timeline that fits
the terminal: one row per child when there are few, a density view when
there are many."""

import shutil
import textwrap

from .story import sentences, span

FEW_CHILDREN = 16
LEVELS = " ▁▂▃▄▅▆▇█"


def render(trace, width=None):
    width = width or min(100, shutil.get_terminal_size((80, 24)).columns)
    s = trace.summary
    out = textwrap.wrap("lab trace: %s" % trace.submission, width, subsequent_indent="  ",
                        break_on_hyphens=False)
    out += ["  %d simultaneous client%s, %s recording, %.1f s" % (
        trace.clients, "" if trace.clients == 1 else "s", trace.mode, trace.seconds), ""]
    for sentence in sentences(trace):
        out += textwrap.wrap(sentence, width, initial_indent="  ", subsequent_indent="  ")
    out += [""]
    counts = ["%s %s" % (k, "-" if v is None else v) for k, v in s.items()]
    out += textwrap.wrap("  ".join(counts), width, initial_indent="  ", subsequent_indent="  ")
    out += [""] + timeline(trace, width)
    for why in trace.unobserved:
        out += textwrap.wrap("not observed: " + why, width, initial_indent="  ",
                             subsequent_indent="    ")
    return "\n".join(out) + "\n"


def timeline(trace, width):
    start, last, end = span(trace)
    label = 16
    columns = max(20, width - label - 2)
    scale = columns / (last - start)

    def column(t):
        return min(columns - 1, max(0, int((t - start) * scale)))

    rows = ["  %-*s0%s%.3f s" % (label - 2, "time", " " * (columns - 7), last)]
    parent = [" "] * columns
    marks = (("accept", "a"), ("sigchld", "s"), ("interrupted", "x"), ("handler", "H"))
    for kind, mark in marks:
        for e in trace.events:
            if e["kind"] == kind and e["pid"] == trace.listener:
                parent[column(e["t"])] = "m" if kind == "sigchld" and e.get("merged") else mark
    rows.append("  %-*s%s" % (label - 2, "parent %d" % trace.listener, "".join(parent)))
    if len(trace.children) <= FEW_CHILDREN:
        for child in trace.children:
            rows.append("  %-*s%s" % (label - 2, "child %d" % child.pid,
                                      _lane(child, column, columns)))
        legend = ("a accept  H SIGCHLD handler  s SIGCHLD delivered  m merged  "
                  "x accept interrupted  = running  z zombie  | reaped")
    else:
        for name, values in _densities(trace, column, columns):
            peak = max(values) or 1
            bar = "".join(LEVELS[0 if v == 0 else max(1, round(v / peak * 8))] for v in values)
            total = values[-1] if name == "zombies" else sum(values)
            rows.append("  %-*s%s" % (label - 2, "%s %d" % (name, total), bar))
        legend = ("a accept  H SIGCHLD handler  s SIGCHLD delivered  m merged; "
                  "rows: how many in each column of time; zombies: how many at once, "
                  "and at the end")
    if end > last + 0.01:
        legend += ";  then nothing new until the server was stopped at %.1f s" % end
    return rows + textwrap.wrap(legend, width, initial_indent="  ", subsequent_indent="  ") + [""]


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
    forks, exits, reaps, zombies = ([0] * columns for _ in range(4))
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
    return [("forks", forks), ("exits", exits), ("handler runs", handlers),
            ("reaps", reaps), ("zombies", zombies)]
