"""The verdicts of the article's own servers: one module, read by
test_verdicts.py and test_golden.py. TABLE: Part 3's servers, graded at 3g
(every check runs there). SERIES: the other stages' servers, each graded at
its own stage (started as its stage declares: 3h with the Flask app behind
it, and with the probe app for Part 2's checks), "." where that stage does
not run the check.

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

SERIES = """
check                  1  2  3h
serves                 P  P  P
closes                 P  P  P
concurrent             F  F  P
no-fd-leak             P  .  P
fd-limit               .  .  P
reaps                  .  .  P
reaps-burst            .  .  P
survives-child-kill    .  .  P
accepts-while-reaping  .  .  P
answers-garbage        P  .  .
wsgi-frameworks        .  P  P
wsgi-environ           .  F  F
wsgi-status-headers    .  P  P
wsgi-body-iterable     .  P  P
wsgi-close             .  F  F
wsgi-input             .  F  F
wsgi-survives-empty    .  F  P
"""

STATUS = {"P": ("pass",), "F": ("fail",), "-": ("skip",)}


def _read(text):
    rows = [line.split() for line in text.strip().splitlines()]
    stages = rows[0][1:]
    table = {sid: {} for sid in stages}
    for check_id, *marks in rows[1:]:
        for sid, mark in zip(stages, marks):
            if mark != ".":
                table[sid][check_id] = STATUS[mark]
    return table


def expected():
    """{Part 3 server's stage: {check id: the statuses it may have}}, at 3g."""
    return _read(TABLE)


def expected_own():
    """{stage: {check id: the statuses it may have}}, the series' other
    servers, each at its own stage."""
    return _read(SERIES)


PART3 = tuple(expected())          # the servers graded at 3g
OWN_STAGE = tuple(expected_own())  # the servers graded at their own stage only
