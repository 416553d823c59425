# Sourced by build-base-image.sh and install-compose-plugin.sh: the Debian
# mirrors this machine's apt already uses, so a classroom behind a proxy or
# a local mirror works with no edits (and no host is named here).
#
#   debian_mirror            the archive (the URI of a non-security Debian source)
#   debian_security_mirror   the security archive ("" when apt has none)
#
# Read from /etc/apt/sources.list.d/*.sources (deb822) and
# /etc/apt/sources.list and *.list (one-line form); LAB_DEBIAN_MIRROR and
# LAB_DEBIAN_SECURITY override them.

# "URI SUITE" for every `deb` source apt has, one a line.
_apt_sources() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # deb822: blank-line separated stanzas with Types:, URIs:, Suites:
        awk 'BEGIN { RS = ""; FS = "\n" }
             {
               types = ""; uris = ""; suites = ""
               for (i = 1; i <= NF; i++) {
                 line = $i
                 if (line ~ /^#/) continue
                 if (line ~ /^Types:/)  { sub(/^Types:[ \t]*/, "", line);  types = line }
                 if (line ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", line);   uris = line }
                 if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites = line }
               }
               if (types !~ /(^| )deb( |$)/) next
               n = split(uris, u, " "); m = split(suites, s, " ")
               for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[i], s[j]
             }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        # deb [options] URI SUITE COMPONENTS...
        awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                           print $i, $(i + 1) }' "$f"
    done
}

debian_mirror() {
    if [ -n "${LAB_DEBIAN_MIRROR:-}" ]; then echo "$LAB_DEBIAN_MIRROR"; return; fi
    _apt_sources | awk '$2 !~ /-security$/ && $2 !~ /-backports$/ { print $1; exit }' | sed 's:/*$::'
}

debian_security_mirror() {
    if [ -n "${LAB_DEBIAN_SECURITY+set}" ]; then echo "$LAB_DEBIAN_SECURITY"; return; fi
    _apt_sources | awk '$2 ~ /-security$/ { print $1; exit }' | sed 's:/*$::'
}
