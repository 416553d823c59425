"""Golden results, as Exercism's test runners keep them: for each known
submission, the stable part of its JSON report in tests/golden/<name>.json,
compared with this run's.

Known submissions: the seven reference servers, each graded at its own
stage (webserver3X-at-3X.json) and at 3g (webserver3X-at-3g.json), and
every case of tests/hostile/ at 3g (<case>.json).

Pinned: stage, status, score, max_score, and each check's id and status.
Never pinned: seconds, messages, hints, output (they hold times, PIDs and
counts that vary from run to run). Where a check's status itself varies
between runs (VOLATILE, below), its status is left out, and so are the
score and the status of the whole when they follow from it; the golden
file names them under "varies".

    pytest tests/test_golden.py --update-golden     # rewrite them all
"""

import json

import pytest

from conftest import GOLDEN, STAGES, hostile_names, needs
from test_hostile import CASES

# name: what varies between runs (check ids; "score"; "status").
# Observed over repeated runs on a loaded 2-core machine; see each reason.
VOLATILE = {
    # 300 children each stream to a client that never reads: whether the
    # new request's child is scheduled within 5 s depends on the load.
    "endless_body": {"fd-limit", "score"},
}

TABLE = """
check                3a 3b 3c 3d 3e 3f 3g
serves               P  P  P  P  P  P  P
closes               P  F  F  F  F  P  P
concurrent           F  F  P  P  P  P  P
no-fd-leak           P  F  P  F  P  P  P
fd-limit             P  F  P  F  P  P  P
reaps                -  -  F  F  P  P  P
reaps-burst          -  F  F  F  F  F  P
survives-child-kill  -  -  P  P  P  P  P
"""


def reference_name(sid, stage):
    return "webserver%s-at-%s" % (sid, stage)


REFERENCE_KEYS = sorted({(sid, stage) for sid in STAGES for stage in (sid, "3g")})
KNOWN = [reference_name(*key) for key in REFERENCE_KEYS] + hostile_names()


def stable(report, varies=()):
    """The part of a report that must not change from run to run."""
    data = {"stage": report["stage"]}
    for key in ("status", "score", "max_score"):
        if key not in varies:
            data[key] = report[key]
    data["checks"] = [{"id": c["id"]} if c["id"] in varies else
                      {"id": c["id"], "status": c["status"]} for c in report["checks"]]
    if varies:
        data["varies"] = sorted(varies)
    return data


def compare(name, report, update):
    path = GOLDEN / (name + ".json")
    current = stable(report, VOLATILE.get(name, ()))
    if update:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n")
        return
    assert path.exists(), "no golden file %s: run pytest --update-golden" % path.name
    golden = json.loads(path.read_text())
    assert current == golden, "%s differs from its golden file:\n%s" % (name, "\n".join(
        "  %s: golden %s, now %s" % (key, golden.get(key), current.get(key))
        for key in ("status", "score", "max_score") if golden.get(key) != current.get(key))
        + "".join("\n  %s: golden %s, now %s" % (g["id"], g.get("status"), c.get("status"))
                  for g, c in zip(golden["checks"], current["checks"]) if g != c)
        + "\n  messages now: %s" % {c["id"]: c["message"][:120] for c in report["checks"]
                                    if c["status"] in ("fail", "error")})


@pytest.mark.parametrize("sid,stage", REFERENCE_KEYS,
                         ids=[reference_name(*key) for key in REFERENCE_KEYS])
def test_reference_golden(golden_reference_reports, update_golden, sid, stage):
    compare(reference_name(sid, stage), golden_reference_reports[(sid, stage)], update_golden)


@pytest.mark.parametrize("name", hostile_names())
def test_hostile_golden(hostile_grade, update_golden, name):
    needs(name)
    graded = hostile_grade(name, CASES[name][1])
    assert graded.data is not None, graded.describe()
    compare(name, graded.data, update_golden)


def test_no_stale_golden_file():
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(KNOWN)


@pytest.mark.parametrize("stage", ["3g"] + sorted(s for s in STAGES if s != "3g"))
def test_golden_references_hold_the_verdict_table(stage):
    """The pinned verdicts are the table's, whatever --update-golden wrote:
    at 3g and at each server's own stage (every check runs at every stage)."""
    rows = [line.split() for line in TABLE.strip().splitlines()]
    sids = rows[0][1:]
    for column, sid in enumerate(sids):
        if stage != "3g" and sid != stage:
            continue
        golden = json.loads((GOLDEN / (reference_name(sid, stage) + ".json")).read_text())
        seen = {c["id"]: c["status"] for c in golden["checks"]}
        for check_id, *marks in rows[1:]:
            want = {"P": ("pass",), "F": ("fail",), "-": ("skip", "pass")}[marks[column]]
            assert seen[check_id] in want, (sid, stage, check_id, seen[check_id])
