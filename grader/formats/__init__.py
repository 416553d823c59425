"""Result formats. Each writer turns reports into the text of one file.

`lab check` writes one report, `lab grade` a list of them: every writer
takes a list of reports and the stage.
"""

import json


def write_json(reports, single):
    if single:
        data = reports[0].to_dict()
    else:
        data = {"submissions": [r.to_dict() for r in reports]}
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    # A file name that is not UTF-8 holds lone surrogates: write them as
    # JSON escapes, so the file stays valid UTF-8 and valid JSON.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


from .classroom import write_classroom      # noqa: E402
from .exercism import write_exercism        # noqa: E402
from .gradescope import write_gradescope    # noqa: E402
from .junit import write_junit              # noqa: E402

# name -> writer(reports, single) -> str
FORMATS = {"json": write_json, "gradescope": write_gradescope,
           "exercism": write_exercism, "junit": write_junit,
           "classroom": write_classroom}
