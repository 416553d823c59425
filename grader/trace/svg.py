"""The picture of a trace: a self-contained SVG.

Time runs across. At the top, the listening process: accepts, SIGCHLD
arrivals (merged ones hollow), handler runs, interrupted accepts, and below
it the descriptors it holds. Then one lane per child, in fork order: running
from fork to exit, a zombie from exit until reaped (a tick), or to the right
edge when nobody reaped it. The quiet settling time at the end is drawn
narrow, after a break, so that the busy part gets the width.
"""

import os
from xml.sax.saxutils import escape

from .. import i18n
from ..i18n import _, ngettext
from .story import sentences, span

WIDTH = 960
LEFT = 120              # labels
RIGHT = 20
BREAK = 56              # the narrow part after the break: the settling time
CHILDREN_HEIGHT = 380   # all lanes together, at most

RUNNING = "#3b7dd8"
ZOMBIE = "#d64541"
REAPED = "#1e8c45"
HANDLER = "#f39c12"
SIGNAL = "#8e44ad"
ACCEPT = "#555555"
INTERRUPTED = "#c0392b"


def render(trace):
    start, last, end = span(trace)
    plot = WIDTH - LEFT - RIGHT - BREAK
    busy_right = LEFT + plot

    def x(t):
        if t is None:
            return WIDTH - RIGHT
        if t <= last:
            return LEFT + (t - start) / (last - start) * plot
        return busy_right + BREAK * min(1.0, (t - last) / max(end - last, 1e-9))

    s = trace.summary
    out = []
    y = 26
    title = ngettext("%(file)s: %(clients)d simultaneous client",
                     "%(file)s: %(clients)d simultaneous clients", trace.clients) % {
                         "file": os.path.basename(trace.submission), "clients": trace.clients}
    out.append(_text(LEFT - 110, y, title, size=17, weight="bold"))
    y += 20
    story = sentences(trace)
    for line in i18n.wrap(" ".join(story[:2]), 140)[:3]:
        out.append(_text(LEFT - 110, y, line, size=12.5))
        y += 16
    counts = (_("forked %(forked)d · exited %(exited)d · SIGCHLD handler runs %(handler_runs)d · "
                "SIGCHLD delivered %(sigchld)s (merged %(sigchld_merged)s) · reaped %(reaped)d · "
                "zombies %(zombies)d")
              % dict(s, sigchld=_dash(s["sigchld"]), sigchld_merged=_dash(s["sigchld_merged"])))
    out.append(_text(LEFT - 110, y, counts, size=12.5, weight="bold"))
    y += 14
    out.append(_legend(LEFT - 110, y + 10))
    y += 34

    # the listening process
    out.append(_text(8, y + 14, _("parent %d") % trace.listener, size=12))
    out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#bbb"/>'
               % (LEFT, y + 10, WIDTH - RIGHT, y + 10))
    for e in trace.events:
        if e["pid"] != trace.listener:
            continue
        ex = x(e["t"])
        if e["kind"] == "accept":
            out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>'
                       % (ex, y + 3, ex, y + 17, ACCEPT))
        elif e["kind"] == "sigchld":
            fill = "none" if e.get("merged") else SIGNAL
            out.append('<path d="M%.1f %.1f l-4 -7 h8 z" fill="%s" stroke="%s"/>'
                       % (ex, y + 2, fill, SIGNAL))
        elif e["kind"] == "handler":
            out.append('<path d="M%.1f %.1f l4 5 l-4 5 l-4 -5 z" fill="%s"/>'
                       % (ex, y + 8, HANDLER))
        elif e["kind"] == "interrupted":
            out.append('<path d="M%.1f %.1f l8 8 m0 -8 l-8 8" stroke="%s" stroke-width="2"/>'
                       % (ex - 4, y + 14, INTERRUPTED))
    y += 30

    # its descriptors
    peak = max((n for _, n in trace.fds), default=0)
    height = 40
    out.append(_text(8, y + 14, _("descriptors"), size=12))
    out.append(_text(8, y + 28, _("of the parent"), size=11, fill="#666"))
    if trace.fds:
        points, previous = [], None
        for t, n in trace.fds:
            py = y + height - (n / peak) * (height - 4)
            if previous is not None:
                points.append("%.1f,%.1f" % (x(t), previous))
            points.append("%.1f,%.1f" % (x(t), py))
            previous = py
        points.append("%.1f,%.1f" % (WIDTH - RIGHT, previous))
        out.append('<polyline points="%s" fill="none" stroke="#333" stroke-width="1.5"/>'
                   % " ".join(points))
        out.append(_text(busy_right - 4, y - 2, _("max %d") % peak, size=11, anchor="end"))
    y += height + 16

    # the children, one lane each
    lanes = len(trace.children)
    lane = max(2.0, min(14.0, CHILDREN_HEIGHT / max(lanes, 1)))
    heading = _("children (%d)") % lanes
    out.append(_text(8, y + 12, heading, size=12))
    out.append(_text(14 + 7.2 * i18n.width(heading), y + 12,
                     _("one lane each, in fork order") if lanes else _("none"), size=11,
                     fill="#666"))
    y += 20
    for i, child in enumerate(trace.children):
        top = y + i * lane
        bar = max(1.0, lane * 0.7)
        parts = ['<g class="child" data-pid="%d">' % child.pid]
        if lanes <= 28:
            parts.append(_text(LEFT - 6, top + bar, "%d" % child.pid, size=min(11, lane),
                               anchor="end", fill="#666"))
        x0, x1 = x(child.forked), x(child.exited)
        parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                     % (x0, top, max(1.0, x1 - x0), bar, RUNNING))
        if child.exited is not None:
            x2 = x(child.reaped)
            parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                         % (x1, top, max(0.0, x2 - x1), bar, ZOMBIE))
            if child.reaped is not None:
                parts.append('<rect x="%.1f" y="%.1f" width="2" height="%.1f" fill="%s"/>'
                             % (x2 - 1, top - 0.5, bar + 1, REAPED))
        parts.append("</g>")
        out.append("".join(parts))
    y += max(lanes, 1) * lane + 10

    # the time axis, and the break before the settling time
    out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#333"/>'
               % (LEFT, y, busy_right, y))
    for t in _ticks(last - start):
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>'
                   % (x(t), y, x(t), y + 5))
        out.append(_text(x(t), y + 18, _seconds(t), size=11, anchor="middle"))
    out.append('<rect x="%d" y="%d" width="%d" height="%.1f" fill="#f4f4f4"/>'
               % (busy_right + 4, 0, BREAK - 4, y + 24))
    out.append(_text(busy_right + BREAK / 2 + 2, y + 18, "%s" % _seconds(end), size=11,
                     anchor="middle"))
    out.append(_text(busy_right + BREAK / 2 + 2, y - 4, _("stop"), size=10, anchor="middle",
                     fill="#666"))
    y += 32
    for why in trace.unobserved:
        out.append(_text(LEFT - 110, y, _("not observed: %s") % why, size=11, fill="#666"))
        y += 15
    # the break's background goes under everything else
    background = [out.pop(i) for i, part in enumerate(out) if part.startswith(
        '<rect x="%d" y="0"' % (busy_right + 4))]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
            'font-family="DejaVu Sans, Helvetica, Arial, Noto Sans CJK SC, '
            'WenQuanYi Micro Hei, Microsoft YaHei, PingFang SC, sans-serif">\n'
            '<rect width="100%%" height="100%%" fill="white"/>\n%s\n%s\n</svg>\n'
            % (WIDTH, y + 8, WIDTH, y + 8, "\n".join(background), "\n".join(out)))


def _legend(x0, y):
    items = [("rect", RUNNING, _("running")), ("rect", ZOMBIE, _("zombie")),
             ("tick", REAPED, _("reaped")), ("line", ACCEPT, _("accept")),
             ("tri", SIGNAL, _("SIGCHLD delivered")), ("hollow", SIGNAL, _("SIGCHLD merged")),
             ("diamond", HANDLER, _("handler run")),
             ("cross", INTERRUPTED, _("accept interrupted"))]
    parts, x = [], x0
    for shape, colour, label in items:
        if shape == "rect":
            parts.append('<rect x="%d" y="%d" width="16" height="8" fill="%s"/>' % (x, y - 8, colour))
        elif shape == "tick":
            parts.append('<rect x="%d" y="%d" width="2" height="10" fill="%s"/>' % (x + 7, y - 9, colour))
        elif shape == "line":
            parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>' % (x + 8, y - 10, x + 8, y, colour))
        elif shape in ("tri", "hollow"):
            parts.append('<path d="M%d %d l-4 -7 h8 z" fill="%s" stroke="%s"/>'
                         % (x + 8, y - 1, colour if shape == "tri" else "none", colour))
        elif shape == "diamond":
            parts.append('<path d="M%d %d l4 5 l-4 5 l-4 -5 z" fill="%s"/>' % (x + 8, y - 10, colour))
        else:
            parts.append('<path d="M%d %d l8 8 m0 -8 l-8 8" stroke="%s" stroke-width="2"/>'
                         % (x + 4, y - 9, colour))
        parts.append(_text(x + 20, y, label, size=11))
        x += 30 + 6.6 * i18n.width(label)
    return "".join(parts)


def _ticks(length):
    for step in (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                 0.5, 1, 2, 5, 10, 20, 30, 60):
        if length / step <= 8:
            break
    count = int(length / step)
    return [i * step for i in range(count + 1)]


def _seconds(t):
    if t == 0:
        return "0"
    return "%g ms" % round(t * 1000, 3) if t < 1 else "%g s" % round(t, 2)


def _dash(value):
    return "-" if value is None else str(value)


def _text(x, y, text, size=12, anchor="start", weight="normal", fill="#111"):
    return '<text x="%.1f" y="%.1f" font-size="%s" text-anchor="%s" font-weight="%s" fill="%s">%s</text>' \
        % (x, y, size, anchor, weight, fill, escape(text))



