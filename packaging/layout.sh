# The files of an installed kalavai-like and where they go: the one list that
# packaging/install.sh (into /usr/local, from a bundle) and packaging/deb/build (into /usr, for
# dpkg) both follow. Source it; it defines variables and functions, and runs nothing.

KL_OPT=/opt/kalavai-like                 # the PyInstaller bundle, whole
KL_EXES=(kalavai-like kalavai-like-tray) # executables in it, linked into <prefix>/bin
KL_SETTINGS=/etc/kalavai-like/settings.toml
KL_AGENT_UNIT=kalavai-like-agent.service       # enabled on install
KL_PLATFORM_UNIT=kalavai-like-platform.service # shipped, never enabled by an install
KL_GROUP=kalavai-like                    # the agent's operators (default)

# kl_layout PREFIX UNITDIR: one line per thing to install, "KIND A B [MODE]":
#   file SRC DEST MODE   SRC relative to the repository root
#   link DEST TARGET     a symbolic link DEST -> TARGET
#   unit SRC DEST MODE   a systemd unit file
# PREFIX is /usr/local (install.sh) or /usr (the .deb); UNITDIR /etc/systemd/system or
# /lib/systemd/system. Files under /etc are the operator's to edit (conffiles in the .deb).
kl_layout() {
  local prefix=$1 unitdir=$2 exe
  cat <<EOF
file packaging/systemd/headless.conf $KL_OPT/share/systemd/headless.conf 0644
file docs/DEPLOY.md $KL_OPT/share/doc/DEPLOY.md 0644
file packaging/nginx/kalavai-like-platform.conf $KL_OPT/share/nginx/kalavai-like-platform.conf 0644
EOF
  for exe in "${KL_EXES[@]}"; do echo "link $prefix/bin/$exe $KL_OPT/$exe"; done
  cat <<EOF
file packaging/desktop/kalavai-like-tray.desktop $prefix/share/applications/kalavai-like-tray.desktop 0644
file packaging/desktop/kalavai-like-tray-autostart.desktop /etc/xdg/autostart/kalavai-like-tray.desktop 0644
file assets/icons/app.svg $prefix/share/icons/hicolor/scalable/apps/kalavai-like.svg 0644
file packaging/man/kalavai-like.1 $prefix/share/man/man1/kalavai-like.1 0644
file packaging/man/kalavai-like-tray.1 $prefix/share/man/man1/kalavai-like-tray.1 0644
unit packaging/systemd/$KL_AGENT_UNIT $unitdir/$KL_AGENT_UNIT 0644
unit packaging/systemd/$KL_PLATFORM_UNIT $unitdir/$KL_PLATFORM_UNIT 0644
EOF
}

# kl_settings GROUP: the first /etc/kalavai-like/settings.toml (the agent's operator group).
kl_settings() {
  printf '# Settings of the kalavai-like agent; edit freely (see DEPLOY.md).\n[agent]\noperator_group = "%s"\n' "$1"
}
