"""The seven stages of Part 3: where each lives and which checks it requires."""

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LABS_DIR = REPO_ROOT / "labs"
CLIENT3 = LABS_DIR / "client3.py"

# Every check, in the order they run. The ids are the contract of every
# output format: never rename one.
CHECK_IDS = (
    "serves",
    "closes",
    "concurrent",
    "no-fd-leak",
    "fd-limit",
    "reaps",
    "reaps-burst",
    "survives-child-kill",
)


@dataclass(frozen=True)
class Stage:
    id: str            # "3a"
    slug: str          # directory name under labs/
    title: str
    lesson: str        # one line: what the stage shows
    required: tuple    # check ids the stage's exercise asks for

    @property
    def directory(self) -> Path:
        return LABS_DIR / self.slug

    @property
    def server(self) -> Path:
        return self.directory / f"webserver{self.id}.py"

    @property
    def demo(self) -> Path:
        return self.directory / "demo.py"

    @property
    def readme(self) -> Path:
        return self.directory / "README.md"


# A stage requires what its own server does right; the checks that expose
# the stage's flaw still run and teach, and the next stage requires them.
STAGES = {
    s.id: s
    for s in (
        Stage("3a", "3a-iterative", "An iterative server",
              "one client at a time: accept, recv, sendall, close",
              ("serves", "closes", "no-fd-leak", "fd-limit")),
        Stage("3b", "3b-backlog", "The listen backlog",
              "while the server sleeps, a second curl connects but hangs",
              ("serves",)),
        Stage("3c", "3c-fork", "A forking server",
              "fork() per client: many clients at once, PID and PPID",
              ("serves", "concurrent", "no-fd-leak", "fd-limit",
               "survives-child-kill")),
        Stage("3d", "3d-leaked-descriptors", "Leaked descriptors and zombies",
              "the parent keeps every client socket: no FIN, EMFILE, zombies",
              ("serves", "concurrent", "survives-child-kill")),
        Stage("3e", "3e-sigchld-eintr", "SIGCHLD and interrupted system calls",
              "a SIGCHLD handler reaps each child; accept() is interrupted",
              ("serves", "concurrent", "no-fd-leak", "fd-limit", "reaps",
               "survives-child-kill")),
        Stage("3f", "3f-lost-signals", "Lost signals",
              "SIGCHLD is not queued: a burst of clients leaves zombies",
              ("serves", "closes", "concurrent", "no-fd-leak", "fd-limit",
               "reaps", "survives-child-kill")),
        Stage("3g", "3g-waitpid-loop", "The waitpid loop",
              "waitpid(-1, WNOHANG) in a loop: no zombies, ever",
              CHECK_IDS),
    )
}


def find_stage(name: str):
    """The stage called `name` ("3g", "g", "3G", or its directory name), or None."""
    key = name.strip().lower()
    if key in STAGES:
        return STAGES[key]
    if len(key) == 1 and "3" + key in STAGES:
        return STAGES["3" + key]
    for stage in STAGES.values():
        if key == stage.slug:
            return stage
    return None
