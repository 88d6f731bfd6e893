# Shared by scripts/run and scripts/test: install what wxtag needs when it is missing.
# Sourced, not run.

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
# Installs Debian packages whose command is missing: ensure_pkg COMMAND PACKAGE...
ensure_pkg() {
  local command=$1; shift
  command -v "$command" >/dev/null 2>&1 && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: $command is missing and this is not a Debian/Ubuntu machine; install: $*" >&2
    exit 1
  fi
  echo "installing $* ..." >&2
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# Makes sure cargo is on PATH (rustup installs it in ~/.cargo/bin).
ensure_cargo() {
  [ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is missing; install Rust from https://rustup.rs and run this again" >&2
    exit 1
  fi
}
