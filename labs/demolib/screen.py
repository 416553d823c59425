"""What the learner sees: the narration and every terminal's output, each
line of a terminal shown as `  name | text`."""

import os
import re
import sys

from grader import i18n
from grader.i18n import ngettext


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
