"""Points per check, from a small TOML file.

    # rubric.toml
    [points]
    serves = 2
    reaps-burst = 3      # checks not named here are worth 1 point

A stage's score is the sum of the points of its required checks that pass
(a check skipped because it does not apply counts as passed).
"""

import errno
import tomllib

from . import userfiles
from .i18n import _
from .stages import CHECK_IDS

MAX_BYTES = 1 << 20


class RubricError(Exception):
    pass


def load(path):
    """{check id: points} from a rubric file; raises RubricError."""
    if path is None:
        return {}
    return parse(read(path), path)


def read(path):
    """The rubric file's bytes, read with the rights of whoever ran `lab`
    (grader/userfiles.py); raises RubricError."""
    try:
        data = userfiles.read_bytes(path, MAX_BYTES)
    except OSError as e:
        if e.errno == errno.EFBIG:
            raise RubricError(_("the rubric %s is larger than 1 MiB (%s): is it a rubric?")
                              % (path, e.strerror))
        raise RubricError(_("cannot read the rubric %s: %s") % (path, e.strerror))
    return data


def parse(raw, path):
    """{check id: points} from a rubric file's bytes; raises RubricError."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RubricError(_("the rubric %s is not text (UTF-8 TOML)") % path)
    except tomllib.TOMLDecodeError as e:
        raise RubricError(_("the rubric %s is not valid TOML: %s") % (path, e))
    points = data.get("points", {})
    if not isinstance(points, dict):
        raise RubricError(_("the rubric %s: [points] must be a table of check = number") % path)
    unknown = [k for k in points if k not in CHECK_IDS]
    if unknown:
        raise RubricError(_("the rubric %s names unknown checks: %s (the checks are %s)")
                          % (path, ", ".join(unknown), ", ".join(CHECK_IDS)))
    for check_id, value in points.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise RubricError(_("the rubric %s: points for %s must be a number >= 0, not %r")
                              % (path, check_id, value))
    return dict(points)
