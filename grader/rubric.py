"""Points per check, from a small TOML file.

    # rubric.toml
    [points]
    serves = 2
    reaps-burst = 3      # checks not named here are worth 1 point

A stage's score is the sum of the points of its required checks that pass
(a check skipped because it does not apply counts as passed).
"""

import tomllib

from .i18n import _
from .stages import CHECK_IDS


class RubricError(Exception):
    pass


def load(path):
    """{check id: points} from a rubric file; raises RubricError."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise RubricError(_("cannot read the rubric %s: %s") % (path, e.strerror))
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
