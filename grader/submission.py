"""What was handed in: find the server file, and refuse what is not one."""

import errno
from pathlib import Path

from . import userfiles
from .i18n import _

MAX_BYTES = 1 << 20


class SubmissionError(Exception):
    """The submission cannot be graded; the message says what to do."""


def find_server(path, stage) -> Path:
    """The server file of a submission: the file itself, or the one Python
    file of a folder (the one named as the stage's server if there are several)."""
    return read_server(path, stage)[0]


def read_server(path, stage):
    """(the server file, its contents), read with the rights of whoever ran
    `lab` (grader/userfiles.py): grade these bytes, never the path again."""
    try:
        return _read_server(Path(path), stage)
    except OSError as e:
        raise SubmissionError(_("%s: cannot read it (%s)") % (path, e.strerror))


def _read_server(path, stage):
    found = userfiles.look(path)
    if found["kind"] == "missing":
        raise SubmissionError(_("%s: no such file or folder") % path)
    if found["kind"] == "dir":
        files = [path / name for name in found.get("py_files", [])]
        named = [p for p in files if p.name == stage.server.name]
        if named:
            path = named[0]
        elif len(files) == 1:
            path = files[0]
        elif not files:
            raise SubmissionError(_("%s: the folder holds no .py file") % path)
        else:
            raise SubmissionError(
                _("%s: the folder holds %d .py files (%s); name the server %s")
                % (path, len(files), ", ".join(p.name for p in files[:5]), stage.server.name))
    elif found["kind"] != "file":
        raise SubmissionError(_("%s: not a regular file") % path)
    try:
        data = userfiles.read_bytes(path, MAX_BYTES)
    except OSError as e:
        if e.errno == errno.EINVAL:         # swapped for something else meanwhile
            raise SubmissionError(_("%s: not a regular file") % path)
        if e.errno == errno.EFBIG:
            raise SubmissionError(_("%s: %s is too large for a server's source (1 MiB at most)")
                                  % (path, e.strerror))
        raise SubmissionError(_("%s: cannot read it (%s)") % (path, e.strerror))
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(_("%s: not a Python source file (it holds binary data); "
                                "hand in the .py file itself") % path)
    return path, data


def compile_error(path: Path, source: bytes = None):
    """A one-line description of the file's syntax error, or None.

    Compiled as `python3 FILE` reads it: a UTF-8 BOM is fine (compile()
    honours it), and CRLF line ends (Windows) are read as LF first, as
    Python's file reader does: compile() of the raw CRLF bytes can name a
    line past the one python3 names ("detected at line 8" for its 7)."""
    try:
        source = (path.read_bytes() if source is None else source).replace(b"\r\n", b"\n")
        compile(source, path.name, "exec", dont_inherit=True)
    except SyntaxError as e:
        where = _("line %s") % e.lineno if e.lineno else _("somewhere")
        return "%s: %s" % (where, e.msg)
    except ValueError as e:
        return str(e)
    except (RecursionError, MemoryError) as e:
        # a small file can nest deeper than Python's compiler goes; Python
        # itself fails the same way when it runs the file
        return _("nested too deeply for Python to compile it (%s)") % type(e).__name__
    return None
