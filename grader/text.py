"""Human output: a progress line per check as it runs, details for failures."""

import sys
import textwrap

from . import i18n
from .i18n import _, N_
from .report import printable


STATUSES = [N_("pass"), N_("fail"), N_("FAIL"), N_("skip"), N_("error")]     # the labels


class Style:
    def __init__(self, stream):
        self.stream = stream
        tty = hasattr(stream, "isatty") and stream.isatty()
        encoding = (getattr(stream, "encoding", None) or "ascii").lower()
        self.unicode = "utf" in encoding
        self.color = tty

    def mark(self, status):
        marks = {"pass": ("✓", "OK"), "fail": ("✗", "FAIL"), "error": ("!", "ERROR"),
                 "skip": ("-", "skip")}
        mark = marks[status][0 if self.unicode else 1]
        colors = {"pass": "32", "fail": "31", "error": "31", "skip": "33"}
        return "\033[%sm%s\033[0m" % (colors[status], mark) if self.color else mark


def indent(text, prefix="    "):
    return textwrap.indent(printable(text.rstrip("\n")), prefix, lambda line: True)


def wrap(label, text, prefix="    "):
    return i18n.fill(printable(text), 100, prefix + label, prefix + " " * i18n.width(label))


class Progress:
    """Prints `== id == ✓ pass (0.2s)` lines, and what went wrong."""

    def __init__(self, stream=None, stage=None, verbose=False):
        self.stream = stream or sys.stdout
        self.style = Style(self.stream)
        self.stage = stage
        self.verbose = verbose

    def write(self, text=""):
        self.stream.write(text + "\n")
        self.stream.flush()

    def header(self, stage, submission, isolated):
        self.write("lab check %s %s  (%s: %s)" % (stage.id, printable(str(submission)),
                                                 stage.id, _(stage.title)))
        if not isolated:
            self.write("  " + _("(no private network namespace here: the server runs on this "
                                "machine's port 8888, one check at a time)"))

    def started(self, result):
        self.stream.write("== %s == " % result.id)
        self.stream.flush()

    def finished(self, r):
        label = r.status if r.status != "fail" or not r.required else "FAIL"
        note = "" if r.required or r.status in ("pass", "skip") else \
            _(", not required at %s") % self.stage.id
        line = "%s %s%s (%.1fs)" % (self.style.mark(r.status), _(label), note, r.seconds)
        if r.status == "skip":
            line += ": " + printable(r.message)
        self.write(line)
        if r.status in ("fail", "error"):
            self.details(r)

    def details(self, r):
        self.write(wrap("", r.description))
        self.write(wrap(_("seen: "), r.message))
        if r.hint:
            self.write(wrap(_("hint: "), r.hint))
        if not r.required:
            self.write("    " + _("(this check shows what a later stage fixes)"))
        if r.reproduce:
            self.write("    " + _("try it by hand:"))
            self.write(indent(r.reproduce, "      $ "))
        if r.output.strip():
            lines = r.output.strip("\n").splitlines()
            shown = lines if self.verbose else lines[-12:]
            self.write("    " + (_("the server printed:") if len(shown) == len(lines) else
                                 _("the server printed (last %d lines; -v for all):") % len(shown)))
            self.write(indent("\n".join(shown), "      | "))

    def summary(self, report):
        if report.status == "error" and not report.checks:
            self.write("lab: " + _("cannot grade it: ") + printable(report.message))
            return
        required = [c for c in report.checks if c.required]
        passed = sum(c.met for c in required)
        self.write("")
        self.write(_("%s: %d of %d required checks pass, score %s/%s: %s") % (
            report.stage, passed, len(required), _n(report.score), _n(report.max_score),
            {"pass": _("PASS"), "fail": _("FAIL"), "error": _("ERROR")}[report.status]))
        if report.status == "error" and report.message:
            self.write(wrap("", report.message, "  "))


def _n(value):
    return int(value) if float(value).is_integer() else value
