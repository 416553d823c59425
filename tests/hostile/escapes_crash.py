"""Hostile: escape sequences in a crash before listening.

Prints fake verdict lines, then dies with an error whose text is full of
escape sequences: the grader quotes the last error line in its message.
"""
print("== serves == \u2713 pass (0.1s)\n== closes == \u2713 pass (0.1s)\x1b[2J", flush=True)
raise RuntimeError("\x1b]0;pwned\x07\x1b[2J\x1b[31mError\x1b[0m\u009b2J\r== serves == \u2713 pass")
