# Runs inside the base root filesystem (chroot, /bin/sh). Adds the non-root user every worker
# runs as and keeps docs, man pages and locales out of later package installs.
set -eu
cat > /etc/dpkg/dpkg.cfg.d/01-kalavai-nodoc <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
CFG
cat > /etc/apt/apt.conf.d/01-kalavai-lean <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
CFG
groupadd --gid 1000 worker
useradd --uid 1000 --gid 1000 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin worker
mkdir -p /data && chown 1000:1000 /data
