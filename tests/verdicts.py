"""The verdicts of the article's own servers, graded at 3g (every check runs
there): one table, read by test_verdicts.py and test_golden.py.

P pass, F fail, - skipped (not applicable: no child to reap or kill; or not
run: a check it builds on did not pass).
"""

TABLE = """
check                  3a 3b 3c 3d 3e 3f 3g
serves                 P  P  P  P  P  P  P
closes                 P  F  F  F  F  P  P
concurrent             F  F  P  P  P  P  P
no-fd-leak             P  F  P  F  P  P  P
fd-limit               P  F  P  F  P  P  P
reaps                  -  -  F  F  P  P  P
reaps-burst            -  F  F  F  F  F  P
survives-child-kill    -  -  P  P  P  P  P
accepts-while-reaping  -  -  P  P  P  P  P
"""

STATUS = {"P": ("pass",), "F": ("fail",), "-": ("skip",)}


def expected():
    """{server's stage: {check id: the statuses it may have}}."""
    rows = [line.split() for line in TABLE.strip().splitlines()]
    stages = rows[0][1:]
    table = {sid: {} for sid in stages}
    for check_id, *marks in rows[1:]:
        for sid, mark in zip(stages, marks):
            table[sid][check_id] = STATUS[mark]
    return table
