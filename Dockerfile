# The lab container: a small Debian with Python 3 and the tools the article
# uses (curl, ps, strace, lsof), the lab's servers and grader in /opt/lab3 and
# a `lab` command. See docker/README-section.md.
#
#   docker compose build lab3          (or: docker build -t lab3:latest .,
#                                       then run it with --init --pids-limit 4096
#                                       --cap-add SYS_PTRACE, as compose.yaml does)
#
# No registry? `bash docker/build-base-image.sh` makes debian:bookworm-slim
# locally with debootstrap first.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# Debian packages only (bookworm: python3 3.11, pexpect 4.8.0, psutil 5.9.4,
# pytest 7.2.1 -- the versions the native side pins).
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-pexpect python3-psutil python3-pytest python3-pytest-timeout python3-wcwidth \
        python3-jsonschema python3-xmlschema \
        python3-flask python3-pyramid python3-django \
        curl netcat-openbsd procps psmisc strace lsof iproute2 util-linux sudo \
        nano vim-tiny less; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log

# learner: the person at the keyboard (uid/gid follow the owner of the mounted
# work/ folder, see entrypoint.sh). labserver: the uid the grader runs servers
# as. RLIMIT_NPROC counts the processes of a uid on the whole host, and the
# grader kills whatever runs under that uid before it starts: nothing else may
# use it, in this container or on the host. A native `lab check` as root
# uses 64123 and up (one uid per grader running), so the image takes 64200.
# labclient: the uid of the demos' client terminals (curl, client3.py), so
# that their processes neither count against the server's RLIMIT_NPROC nor
# run as root (grader/identity.py: the same 64100 natively).
ARG LABSERVER_UID=64200
ARG LABCLIENT_UID=64100
RUN set -eux; \
    groupadd --gid "$LABSERVER_UID" labserver; \
    useradd --uid "$LABSERVER_UID" --gid "$LABSERVER_UID" --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --comment "lab servers under test" labserver; \
    groupadd --gid "$LABCLIENT_UID" labclient; \
    useradd --uid "$LABCLIENT_UID" --gid "$LABCLIENT_UID" --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --comment "lab demo clients" labclient; \
    useradd --uid 1000 --user-group --create-home --shell /bin/bash \
            --comment "lab learner" learner; \
    mkdir -p /home/learner/work; \
    chown learner:learner /home/learner/work; \
    chmod 0755 /home/learner

COPY docker/entrypoint.sh /usr/local/sbin/lab3-entrypoint
COPY docker/lab /usr/local/bin/lab
COPY docker/lab-as-root /usr/local/libexec/lab3/lab-as-root
COPY docker/sudoers /etc/sudoers.d/lab3
# welcome.txt, and welcome.zh.txt where there is one (profile.sh picks by language)
COPY docker/welcome*.txt /etc/lab3/
COPY docker/profile.sh /etc/profile.d/lab3.sh
# Whatever the checkout's line endings (a zip download, an editor on Windows:
# .gitattributes does not reach those), these run on Linux: strip CR at line
# ends, or sh fails with `/bin/sh^M` and visudo rejects the sudoers file.
RUN set -eux; \
    sed -i 's/\r$//' /usr/local/sbin/lab3-entrypoint /usr/local/bin/lab \
        /usr/local/libexec/lab3/lab-as-root /etc/sudoers.d/lab3 \
        /etc/lab3/welcome*.txt /etc/profile.d/lab3.sh; \
    chmod 0755 /usr/local/sbin/lab3-entrypoint /usr/local/bin/lab /usr/local/libexec/lab3/lab-as-root; \
    chmod 0440 /etc/sudoers.d/lab3; \
    chmod 0644 /etc/lab3/welcome*.txt /etc/profile.d/lab3.sh; \
    visudo -cf /etc/sudoers.d/lab3

# The lab itself (what .dockerignore lets through). Last, so that editing
# the lab rebuilds only this layer.
COPY labs /opt/lab3/labs
COPY grader /opt/lab3/grader
COPY tests /opt/lab3/tests
# (bracket wildcards: BuildKit copies the files that exist and does not fail
# on a missing one)
COPY pyproject.tom[l] README.m[d] rubric.example.tom[l] /opt/lab3/
# the message catalogues: grader/locale/*/LC_MESSAGES/lab.po -> lab.mo
RUN cd /opt/lab3 && python3 -m grader.catalogue compile && chmod -R a+rX,go-w /opt/lab3

ENV LANG=C.UTF-8 \
    LAB_IN_CONTAINER=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /home/learner
ENTRYPOINT ["/usr/local/sbin/lab3-entrypoint"]
CMD ["bash", "-l"]
