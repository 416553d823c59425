"""`lab trace`: what a server does with N simultaneous clients, seen from
outside its code and drawn on a timeline.

  run.py       starts the server as `lab check` does, records, assembles a Trace
  record.py    the light recording: the hook's records and /proc, polled
  hook/        the hook loaded into the server's interpreter
  kernel.py    SIGCHLD from the kernel's tracepoint, where it can be read
  syscalls.py  --syscalls: strace's view
  story.py     what a trace says, in sentences
  terminal.py  the text form;  svg.py  the picture
"""
