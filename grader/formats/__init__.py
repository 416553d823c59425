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
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# name -> writer(reports, single) -> str
FORMATS = {"json": write_json}
