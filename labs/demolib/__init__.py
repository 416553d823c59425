"""The stage demos' harness (`lab demo 3X`): what every labs/*/demo.py
imports as `demolib`."""

from .harness import (BURST_OUTPUT_NOTE, CLIENT3_LINES, SERVER_WRITES, Demo, _, client_uid,
                      drop_privileges_argv, established_to_port, is_root, last_number,
                      soft_limit, ss_listen_queue)

__all__ = ["BURST_OUTPUT_NOTE", "CLIENT3_LINES", "SERVER_WRITES", "Demo", "_", "client_uid",
           "drop_privileges_argv", "established_to_port", "is_root", "last_number",
           "soft_limit", "ss_listen_queue"]
