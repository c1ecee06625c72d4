# Installs the entrypoint that configures the BOINC client from the environment.
set -eu
install -m 0755 /dev/stdin /usr/local/bin/kalavai-boinc <<'SCRIPT'
#!/bin/sh
# Starts the BOINC client as the container's user, configured by environment variables:
#   BOINC_PROJECT_URL      project to attach to (optional: no project, no work)
#   BOINC_WEAK_KEY         the volunteer's weak account key for that project
#   BOINC_AM_URL, BOINC_AM_USER, BOINC_AM_PASSWORD_HASH  an account manager to attach through
#   BOINC_GUI_RPC_PASSWORD password for the GUI RPC (boinccmd); empty: local access only
#   BOINC_DATA_DIR         client data directory (default /data/boinc, else /tmp/boinc)
#   BOINC_NCPUS            how many CPUs the client may use (match the container's --cpus)
#   BOINC_DISK_MAX_GB      the most disk (GiB) BOINC may use in its data directory
#   BOINC_SKIP_BENCHMARKS  1: no CPU benchmarks at the first start (tests)
# Secrets go to files (0600) and out of the environment before the client starts, so they
# never show on a command line.
set -eu
DIR=${BOINC_DATA_DIR:-}
if [ -z "$DIR" ]; then
  if [ -w /data ]; then DIR=/data/boinc; else DIR=/tmp/boinc; fi
fi
mkdir -p "$DIR"
cd "$DIR"
umask 077
printf '%s' "${BOINC_GUI_RPC_PASSWORD:-}" > gui_rpc_auth.cfg
if [ -n "${BOINC_PROJECT_URL:-}" ] && ! ls account_*.xml >/dev/null 2>&1; then
  printf '<project_init>\n<url>%s</url>\n<name>%s</name>\n<account_key>%s</account_key>\n</project_init>\n' \
    "$BOINC_PROJECT_URL" "$BOINC_PROJECT_URL" "${BOINC_WEAK_KEY:-}" > project_init.xml
fi
# Results are reported as soon as they are uploaded: the pool's credit follows the project's
# validation without waiting for the client's next scheduler contact.
OPTS='<report_results_immediately>1</report_results_immediately>'
# An account manager: the client posts to its rpc.php and attaches the projects it lists. Only
# at the first start: the client keeps these files (with the manager's signing key) itself.
if [ -n "${BOINC_AM_URL:-}" ] && [ ! -f acct_mgr_url.xml ]; then
  printf '<acct_mgr>\n<name>%s</name>\n<url>%s</url>\n</acct_mgr>\n' "$BOINC_AM_URL" "$BOINC_AM_URL" > acct_mgr_url.xml
  printf '<acct_mgr_login>\n<login>%s</login>\n<password_hash>%s</password_hash>\n</acct_mgr_login>\n' \
    "${BOINC_AM_USER:-}" "${BOINC_AM_PASSWORD_HASH:-}" > acct_mgr_login.xml
fi
case "${BOINC_NCPUS:-}" in
  '' | *[!0-9]*) ;;
  *) OPTS="$OPTS<ncpus>$BOINC_NCPUS</ncpus>" ;;
esac
[ "${BOINC_SKIP_BENCHMARKS:-}" = 1 ] && OPTS="$OPTS<skip_cpu_benchmarks>1</skip_cpu_benchmarks>"
printf '<cc_config><options>%s</options></cc_config>\n' "$OPTS" > cc_config.xml
# The agent decides when the volunteer's machine is idle; the client just computes, within
# the volunteer's disk limit (BOINC_DISK_MAX_GB, GiB; none: BOINC's own default share).
DISK=''
case "${BOINC_DISK_MAX_GB:-}" in
  '' | *[!0-9.]*) ;;
  *) DISK="<disk_max_used_gb>$BOINC_DISK_MAX_GB</disk_max_used_gb><disk_max_used_pct>100</disk_max_used_pct><disk_min_free_gb>0</disk_min_free_gb>" ;;
esac
printf '%s\n' "<global_preferences><run_if_user_active>1</run_if_user_active><run_gpu_if_user_active>1</run_gpu_if_user_active><suspend_cpu_usage>0</suspend_cpu_usage><cpu_usage_limit>100</cpu_usage_limit><max_ncpus_pct>100</max_ncpus_pct>$DISK</global_preferences>" > global_prefs_override.xml
unset BOINC_WEAK_KEY BOINC_GUI_RPC_PASSWORD BOINC_AM_PASSWORD_HASH
# GUI RPC on a Unix socket in the data directory (boinc_socket): the agent reads the client's
# live state from the host without entering the worker's network; boinccmd --unix_domain here.
exec boinc --dir "$DIR" --no_priority_change --gui_rpc_unix_domain "$@"
SCRIPT
