"""Shared harness for the stage demos (`lab demo 3X`): what every labs/*/demo.py
imports as `demolib`.

Each demo drives real `bash` shells through pexpect, one per terminal of the
article ("server", "client", ...), types the article's commands into them,
echoes every terminal live to your screen with the terminal's name in front
of each line, explains what happened, and *asserts* the phenomenon: when it
does not show, the demo prints

    PHENOMENON NOT REPRODUCED: <what was expected> / <what was seen>

and exits 1. It exits 0 when every assertion held, 2 when the environment
cannot run it (port 8888 taken, a tool missing), 3 on a bug in the demo
itself, 130 on Ctrl-C (or SIGTERM). A demo running longer than DEADLINE
seconds stops itself (exit 1).

Everything is bounded: every wait has a timeout, every load is a fixed
client3.py count, and the demo always cleans up (also on failure or Ctrl-C):
it kills the session of every shell it opened, then every process left
(of the server's uid, or of ours) that runs from its working directory, and
reaps what is left (it is a child subreaper), so no server, client or
zombie survives it. It does not kill every process of the server's uid:
`lab check` may be using that uid at the same time.

As root the server terminal runs as an unprivileged server uid, claimed like
`lab check` claims one (grader.identity.claim_server_uid(): `labserver` /
64123 / LAB_SERVER_UID, or the next one while another grader holds it):
`ulimit -u` never binds root, and a different uid keeps the experiments away
from your own processes. The observer terminals (ps, kill) run as that uid
too, as in the article, where one user starts and watches the server. The
client terminals run as a uid of their own (`labclient` / 64100): their
processes do not count against the server's `ulimit -u`, and no terminal of
a demo is a root shell. As anyone else, every terminal runs as you.
"""

import importlib
import sys
from pathlib import Path

for needed in ("pexpect", "psutil"):      # said plainly before the modules below need them
    try:
        importlib.import_module(needed)
    except ImportError as exc:  # pragma: no cover - depends on the install
        sys.exit("the demos need the Python packages pexpect and psutil "
                 "(pip install pexpect psutil): {}".format(exc))

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from grader.i18n import _  # noqa: E402
from grader.identity import client_uid, drop_privileges_argv, is_root  # noqa: E402
# a server's children as the grader sees them (grader/processes.py)
from grader.processes import ZOMBIE, children, state, zombies  # noqa: E402

from .harness import BURST_OUTPUT_NOTE, CLIENT3_LINES, SERVER_WRITES, Demo  # noqa: E402
from .probes import (established_to_port, last_number, soft_limit,  # noqa: E402
                     ss_listen_queue)

__all__ = ["BURST_OUTPUT_NOTE", "CLIENT3_LINES", "SERVER_WRITES", "Demo", "ZOMBIE", "_",
           "children", "client_uid", "drop_privileges_argv", "established_to_port", "is_root",
           "last_number", "soft_limit", "ss_listen_queue", "state", "zombies"]
