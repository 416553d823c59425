import os
import sys

from .cli import main

try:
    code = main()
    sys.stdout.flush()
except BrokenPipeError:
    # `lab show 3d | head`: the reader left; say nothing more, and let
    # the interpreter's own last flush go nowhere instead of complaining
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 0
sys.exit(code)
