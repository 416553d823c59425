"""What a test needs that this machine may lack: a skip with the reason here,
a failure on CI.

    jsonschema = require("jsonschema")          # at module level, or in a test
    unavailable("the Docker engine is not reachable")

Elsewhere a missing test dependency (requirements-dev.txt, docker, ...)
skips with its reason (`pytest -rs`, on by default in pyproject.toml, lists
every skip with it). Under CI=true the same is a failure: CI installs
everything, so a skip there would hide a test that never ran. At module
level that failure is a collection error, which stops the run.
"""

import importlib
import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
INSTALL = "pip install -r requirements-dev.txt"


def unavailable(reason):
    """Skip the test (or the module, at module level) for `reason`; under
    CI=true fail instead."""
    if IN_CI:
        pytest.fail("CI=true, but %s" % reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(module_name, install=INSTALL):
    """Import and return `module_name`; if it is missing, unavailable()."""
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        unavailable("the Python module %s is missing (%s): %s" % (module_name, e, install))


def require_ipv6_loopback():
    """For a case that needs a server on [::1]. A machine without IPv6
    loopback cannot run it at all (not a missing dependency): a skip even
    under CI=true, saying so."""
    from conftest import ipv6_loopback
    if not ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (ipv6_loopback(): cannot bind [::1]); "
                    "a skip, not a failure, even under CI=true")


def require_docker(compose=False):
    """A reachable Docker engine (and the `docker compose` plugin, if asked),
    else unavailable() with what is missing."""
    import shutil
    import subprocess
    if shutil.which("docker") is None:
        unavailable("docker is not installed")
    probes = [(["docker", "info"], "the Docker engine is not reachable")]
    if compose:
        probes.append((["docker", "compose", "version"],
                       "`docker compose` (the v2 plugin) is missing: "
                       "bash docker/install-compose-plugin.sh"))
    for argv, reason in probes:
        try:
            if subprocess.run(argv, capture_output=True, timeout=30).returncode != 0:
                unavailable(reason)
        except subprocess.TimeoutExpired:
            unavailable("docker does not answer (%s)" % " ".join(argv))
