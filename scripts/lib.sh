# scripts/lib.sh: functions the scripts share. Sourced (". scripts/lib.sh") by a script
# once it has changed to the repository root; never run on its own.
#
#   netflow_go          make "go" a Go toolchain recent enough for go.mod, also under sudo
#   netflow_version NAME  print "NAME VERSION (commit HASH)"

# netflow_go puts a Go toolchain first on PATH, or says where it looked and returns 1.
#
# sudo replaces PATH with its secure_path (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:
# /sbin:/bin on Debian and Ubuntu), which drops /usr/local/go/bin, where the official release
# installs (the README's route: Debian 12's golang-go is 1.19, too old for go.mod). So where
# the go on PATH is missing or older than go.mod asks, look where the usual installs put it:
# $GOROOT/bin, /usr/local/go/bin, the invoking user's (SUDO_USER's) ~/go/bin, ~/.local/go/bin
# and ~/sdk/go/bin, our own ~/go/bin, /usr/lib/go/bin (Debian's golang-go) and /snap/bin.
netflow_go() {
  local home="" d found="" first=""
  if [ -n "${SUDO_USER:-}" ]; then
    home=$(getent passwd "$SUDO_USER" 2>/dev/null | cut -d: -f6) || home=""
  fi
  for d in "$(command -v go 2>/dev/null || true)" \
    ${GOROOT:+"$GOROOT/bin/go"} /usr/local/go/bin/go \
    ${home:+"$home/go/bin/go" "$home/.local/go/bin/go" "$home/sdk/go/bin/go"} \
    ${HOME:+"$HOME/go/bin/go"} /usr/lib/go/bin/go /snap/bin/go; do
    [ -n "$d" ] && [ -x "$d" ] || continue
    [ -n "$first" ] || first=$d
    if netflow_go_recent "$d"; then
      found=$d
      break
    fi
  done
  if [ -z "$found" ] && [ -n "$first" ]; then
    echo "netflow: $first is $("$first" env GOVERSION 2>/dev/null), older than go.mod's $(netflow_go_wanted); trying it anyway" >&2
    found=$first
  fi
  if [ -z "$found" ]; then
    echo "netflow: Go not found: not on PATH, nor in /usr/local/go/bin, ~${SUDO_USER:-}/go/bin, /usr/lib/go/bin; see Requirements in README.md" >&2
    return 1
  fi
  PATH=${found%/go}:$PATH
  export PATH
}

# netflow_go_wanted prints the Go version go.mod asks for, e.g. 1.22.
netflow_go_wanted() {
  sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' go.mod
}

# netflow_go_recent GO: true when the toolchain GO is at least go.mod's version (a
# development build counts as recent).
netflow_go_recent() {
  local have want
  have=$("$1" env GOVERSION 2>/dev/null) || return 1
  want=$(netflow_go_wanted)
  case $have in go[0-9]*) have=${have#go} ;; *) return 0 ;; esac
  [ -n "$want" ] || return 0
  local hmaj=${have%%.*} wmaj=${want%%.*} hmin wmin
  hmin=${have#*.} hmin=${hmin%%[!0-9]*}
  wmin=${want#*.} wmin=${wmin%%[!0-9]*}
  [ "$hmaj" -gt "$wmaj" ] || { [ "$hmaj" -eq "$wmaj" ] && [ "${hmin:-0}" -ge "${wmin:-0}" ]; }
}

# netflow_version NAME prints "NAME VERSION (commit HASH)": VERSION from the file VERSION,
# HASH from git when the repository root is a git checkout (under sudo too: git would refuse
# a checkout owned by another user), else "unknown".
netflow_version() {
  local version="unknown" commit="unknown" top
  if [ -r VERSION ]; then read -r version <VERSION || true; fi
  if top=$(git -c safe.directory="$PWD" rev-parse --show-toplevel 2>/dev/null) &&
    [ "$(cd "$top" && pwd -P)" = "$(pwd -P)" ]; then
    commit=$(git -c safe.directory="$PWD" rev-parse --short HEAD 2>/dev/null) || commit=unknown
  fi
  echo "$1 $version (commit $commit)"
}
