#!/usr/bin/env bash
# Installs kalavai-like on this machine from its PyInstaller bundle, into /usr/local (what goes
# where is packaging/layout.sh, shared with the Debian package, packaging/deb/build):
#   /opt/kalavai-like/                     the bundle (kalavai-like, kalavai-like-tray) + share/
#   /usr/local/bin/kalavai-like{,-tray}    links into it
#   /etc/systemd/system/kalavai-like-agent.service   the agent unit (enabled; started when
#                                          systemd runs); kalavai-like-platform.service too
#                                          (never enabled: see docs/DEPLOY.md)
#   /usr/local/share/applications/kalavai-like-tray.desktop, /etc/xdg/autostart/... and
#   /usr/local/share/icons/hicolor/scalable/apps/kalavai-like.svg
#   /etc/kalavai-like/settings.toml        `[agent] operator_group`, only when absent
#   the group `kalavai-like` (the agent's operators), with the invoking user ($SUDO_USER) in it
# Every file, link, group and membership it makes is written to a manifest
# (/opt/kalavai-like/.install-manifest); `--uninstall` undoes exactly those, nothing else.
#
# Usage: sudo packaging/install.sh [--bundle DIR] [--root DIR] [--group NAME] [--no-enable]
#        sudo packaging/install.sh --uninstall [--root DIR]
#   --bundle DIR  the bundle directory (default: ./kalavai-like next to this script, else built
#                 with packaging/pyinstaller/build)
#   --root DIR    install the files under DIR instead of / (like DESTDIR; for packagers and
#                 tests). The group steps still act on this machine; systemctl acts on DIR.
#   --group NAME  the operator group (default kalavai-like)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=packaging/layout.sh
. "$HERE/layout.sh"
ROOT=/
BUNDLE=""
GROUP=$KL_GROUP
ENABLE=1
UNINSTALL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE=${2:?--bundle needs a directory}; shift ;;
    --root) ROOT=${2:?--root needs a directory}; shift ;;
    --group) GROUP=${2:?--group needs a name}; shift ;;
    --no-enable) ENABLE=0 ;;
    --uninstall) UNINSTALL=1 ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '[install] %s\n' "$*" >&2; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run it as root: sudo $0 $*"
[[ "$GROUP" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || die "invalid group name '$GROUP'"
ROOT=$(cd "$ROOT" 2>/dev/null && pwd) || die "--root: no such directory"
R=${ROOT%/}  # "" for /
OPT=$KL_OPT
MANIFEST=$OPT/.install-manifest
UNIT=$KL_AGENT_UNIT
systemd_running() { [ -z "$R" ] && [ -d /run/systemd/system ]; }
sctl() { if [ -n "$R" ]; then systemctl --root="$ROOT" "$@"; else systemctl "$@"; fi; }

# ---- uninstall --------------------------------------------------------------------------
uninstall() {
  local m=$R$MANIFEST kind a b
  [ -f "$m" ] || die "nothing to uninstall: $m is missing"
  # Undo in reverse order of installation.
  tac "$m" | while read -r kind a b; do
    case "$kind" in
      unit-enabled)
        if systemd_running; then systemctl disable --now "$a" >/dev/null 2>&1 || true
        else sctl disable "$a" >/dev/null 2>&1 || true; fi ;;
      unit-file)
        rm -f "$R$a"
        if systemd_running; then systemctl daemon-reload || true; fi ;;
      file | link) rm -f "$R$a" ;;
      config)
        # Only if nobody edited it since; else keep the operator's settings.
        if [ -f "$R$a" ] && [ "$(sha256sum <"$R$a" | cut -d' ' -f1)" = "$b" ]; then rm -f "$R$a"
        elif [ -e "$R$a" ]; then log "kept $R$a (edited since install)"; fi ;;
      dir) rmdir "$R$a" 2>/dev/null || true ;;
      tree) [ "$a" = "$OPT" ] && rm -rf --one-file-system "$R$OPT" ;;
      member) gpasswd -d "$a" "$b" >/dev/null 2>&1 || true ;;
      group) groupdel "$a" 2>/dev/null || log "could not remove group $a" ;;
      *) log "unknown manifest line: $kind" ;;
    esac
  done
  rm -rf --one-file-system "$R$OPT"  # the manifest itself
  log "uninstalled"
}

if [ "$UNINSTALL" = 1 ]; then uninstall; exit 0; fi

# ---- install ----------------------------------------------------------------------------
if [ -z "$BUNDLE" ]; then
  if [ -x "$HERE/kalavai-like/kalavai-like" ]; then BUNDLE=$HERE/kalavai-like
  else BUNDLE=$("$HERE/pyinstaller/build" | tail -n1); fi
fi
for exe in "${KL_EXES[@]}"; do
  [ -x "$BUNDLE/$exe" ] || die "$BUNDLE/$exe is missing: not a kalavai-like bundle"
done
if [ -e "$R$OPT" ]; then
  [ -f "$R$MANIFEST" ] || die "$R$OPT exists and was not installed by this script"
  log "replacing the earlier installation"
  uninstall
fi

# The manifest lives in $OPT; until $OPT exists, collect lines in a temporary file.
TMP_MANIFEST=$(mktemp)
trap 'rm -f "$TMP_MANIFEST"' EXIT
note() { printf '%s\n' "$*" >>"$TMP_MANIFEST"; }
ok=0
rollback() {
  # A failed install removes what it made so far.
  if [ "$ok" = 0 ] && [ -s "$TMP_MANIFEST" ]; then
    log "install failed: rolling back"
    mkdir -p "$R$OPT" && cp "$TMP_MANIFEST" "$R$MANIFEST" && uninstall || true
  fi
  rm -f "$TMP_MANIFEST"
}
trap rollback EXIT

# Create a directory (and its missing parents), recording the ones we made.
mkdirs() {
  local d=$1 made=()
  while [ ! -d "$R$d" ]; do made=("$d" "${made[@]}"); d=$(dirname "$d"); done
  for d in "${made[@]}"; do mkdir -m 0755 "$R$d"; note dir "$d"; done
}
put() {  # put SRC DEST MODE
  mkdirs "$(dirname "$2")"
  [ ! -e "$R$2" ] || die "$R$2 exists already (not ours): remove it or move it aside"
  install -m "$3" "$1" "$R$2"
  note file "$2"
}

log "installing $BUNDLE into ${R:-}$OPT"
mkdirs /opt
note tree "$OPT"
cp -a "$BUNDLE" "$R$OPT"
chown -R root:root "$R$OPT"
chmod 0755 "$R$OPT"

# The files, links and units of packaging/layout.sh.
while read -r kind a b mode; do
  case "$kind" in
    file) put "$REPO/$a" "$b" "$mode" ;;
    link)
      mkdirs "$(dirname "$a")"
      [ ! -e "$R$a" ] && [ ! -L "$R$a" ] || die "$R$a exists already (not ours)"
      ln -s "$b" "$R$a"
      note link "$a" ;;
    unit)
      mkdirs "$(dirname "$b")"
      [ ! -e "$R$b" ] || die "$R$b exists already (not ours)"
      install -m "$mode" "$REPO/$a" "$R$b"
      note unit-file "$b" ;;
  esac
done < <(kl_layout /usr/local /etc/systemd/system)
if systemd_running; then systemctl daemon-reload; fi

# Settings: the operator group, unless the operator already has a settings file.
SETTINGS=$KL_SETTINGS
if [ ! -e "$R$SETTINGS" ]; then
  mkdirs "$(dirname "$SETTINGS")"
  kl_settings "$GROUP" >"$R$SETTINGS"
  chmod 0644 "$R$SETTINGS"
  note config "$SETTINGS" "$(sha256sum <"$R$SETTINGS" | cut -d' ' -f1)"
else
  log "kept the existing $R$SETTINGS (set [agent] operator_group = \"$GROUP\" there)"
fi

# The operator group (on this machine, whatever --root says) and the invoking user in it.
if ! getent group "$GROUP" >/dev/null; then
  groupadd --system "$GROUP"
  note group "$GROUP"
  log "created group $GROUP"
fi
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  id "$SUDO_USER" >/dev/null 2>&1 || die "SUDO_USER '$SUDO_USER' is not a user here"
  if ! id -nG "$SUDO_USER" | tr ' ' '\n' | grep -qx "$GROUP"; then
    gpasswd -a "$SUDO_USER" "$GROUP" >/dev/null
    note member "$SUDO_USER" "$GROUP"
    log "added $SUDO_USER to $GROUP (log out and in again for it to apply)"
  fi
fi

if [ "$ENABLE" = 1 ] && command -v systemctl >/dev/null; then
  mkdirs /etc/systemd/system/multi-user.target.wants
  if systemd_running; then systemctl enable --now "$UNIT"
  else sctl enable "$UNIT" 2>&1 | sed 's/^/[install] /' >&2; fi
  note unit-enabled "$UNIT"
fi

cp "$TMP_MANIFEST" "$R$MANIFEST"
chmod 0644 "$R$MANIFEST"
ok=1
log "installed: run 'kalavai-like --help'; the tray is 'kalavai-like-tray'"
