#!/bin/bash
# ca-login @@VERSION@@ notebook-instance on-start script; commented: the wheel's ca_login/lifecycle/notebook-instance.sh
#
# For notebook-al2023-v1, user ec2-user. Runs as root at every start; root does only what needs root
# (check the wheel's sha256 in its own dir, set up the refresh, log). Everything for the user runs as the
# user (runuser/setpriv/su, never silently as root), their config and IPython startup file too; root runs
# a program only if it and every dir above it are root's alone. Always exits 0 at once: network work runs
# in the background, bounded. README "SageMaker" says what runs as whom. The generator drops the comments,
# blank lines and indentation from what it prints (SageMaker limits the size; bash reads it the same).
# shellcheck disable=SC2317  # background functions run through `bash -c` (exported)
set -uo pipefail
umask 022

: "${CAL_USER=@@USER@@}"                 # the notebook user
: "${CAL_HOME=@@HOME@@}"                 # that user's home
: "${CAL_CONDA=@@CONDA@@}"               # conda base; the kernels' envs are in $CAL_CONDA/envs
: "${CAL_CLI_ENV=@@CLI_ENV@@}"           # env whose ca-login the user's configure, login and refresh run
: "${CAL_WHEEL=@@WHEEL@@}"               # path (a * picks the newest) or s3://BUCKET/KEY.whl
: "${CAL_WHEEL_SHA256:=@@WHEEL_SHA256@@}" # the wheel must have this sha256, else nothing is installed
: "${CAL_WORK=@@WORK@@}"                 # root's: the checked wheel, pid files
: "${CAL_LOG=@@LOG@@}"
: "${CAL_AWS:=aws}"                       # the user's AWS CLI (on the user's PATH), for an s3:// wheel
: "${CAL_SWITCH:=runuser setpriv su}"     # how root becomes the user: the first of these that exists
: "${CAL_CRONTAB:=crontab}"
: "${CAL_SCHEDULE:=*/30 * * * *}"         # when cron checks; renews under CAL_REFRESH_WITHIN s left
: "${CAL_REFRESH_WITHIN:=@@REFRESH_WITHIN@@}"
: "${CAL_SYSTEMD=/run/systemd/system}"   # exists where systemd runs: then a timer instead of cron
: "${CAL_SYSTEMCTL:=systemctl}"
: "${CAL_UNIT_DIR=/etc/systemd/system}"  # where root writes ca-login-refresh.{service,timer}
: "${CAL_LOOP_SECONDS:=1800}"             # timer or loop: check this often
: "${CAL_LOOP_MAX:=2592000}"              # the loop (no cron, no systemd) ends after this (30 days)
: "${CAL_STEP_TIMEOUT:=60}"               # bound for one step (the foreground's add up to 240 s)
: "${CAL_BG_TIMEOUT:=240}"                # bound for all background work (the start limit is 300 s)
: "${CAL_LOGIN_ATTEMPTS:=3}"
: "${CAL_RETRY_SLEEP:=10}"
: "${CAL_BG_STDERR:=0}"                   # 0: background output to $CAL_LOG only; 1: to stderr too
: "${CAL_DOMAIN:=@@S_DOMAIN@@}"
: "${CAL_DOMAIN_OWNER:=@@S_DOMAIN_OWNER@@}"
: "${CAL_REPOSITORY:=@@S_REPOSITORY@@}"
: "${CAL_REGION:=@@S_REGION@@}"
: "${CAL_ENDPOINT_URL:=@@S_ENDPOINT_URL@@}"
: "${CAL_REPOSITORY_ENDPOINT_URL:=@@S_REPOSITORY_ENDPOINT_URL@@}"
: "${CAL_DURATION_SECONDS:=@@S_DURATION_SECONDS@@}"
: "${CAL_TOOLS:=@@S_TOOLS@@}"             # tools to log in: pip,uv,... (empty: pip)
: "${CAL_IPYTHON_EXTENSION=@@IPYTHON_EXTENSION@@}" # 1: kernels load the extension, 0: not, empty: as is
CAL_CLI="$CAL_CLI_ENV/bin/ca-login"
CAL_USER_PATH="$CAL_CONDA/bin:/usr/local/bin:/usr/bin:/bin"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin # root's: never a dir of the user's
cd / || exit 0                            # no dir of the user's as the working directory

log() { printf '%s ca-login-lifecycle: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# fail ERROR HINT: logs both; returns 1.
fail() { log "error: $1"; log "hint: $2"; return 1; }

# abs_paths NAME...: each variable holds an absolute path: not empty, not /, no ., .. or empty part.
abs_paths() {
  local n v
  for n; do
    v=${!n}
    if [[ $v != /?* || $v == */ || $v == *//* || $v/ == */./* || $v/ == */../* ]]; then
      log "error: $n=\"$v\" is not an absolute path (empty, relative, or with . or ..); stopped"
      return 1
    fi
  done
}

# user SECS CMD...: CMD as CAL_USER (their HOME, their conda on PATH) in a new session with no terminal
# (no TIOCSTI into root's), bounded by root's own timeout outside the switch and by /usr/bin/timeout inside,
# which ends CMD's whole process group. No way to switch: skipped (never run as root).
user() {
  local s=$1 t e; shift
  e=(/usr/bin/setsid -w /usr/bin/timeout -k 5 "$s" /usr/bin/env HOME="$CAL_HOME" USER="$CAL_USER"
    LOGNAME="$CAL_USER" PATH="$CAL_USER_PATH")
  for t in $CAL_SWITCH; do
    command -v "$t" >/dev/null 2>&1 || continue
    case $t in
      runuser) set -- runuser -u "$CAL_USER" -- "${e[@]}" "$@" ;;
      setpriv) set -- setpriv --reuid="$CAL_UID" --regid="$CAL_GID" --init-groups -- "${e[@]}" "$@" ;;
      su)
        # shellcheck disable=SC2016  # expanded by the user's bash
        set -- su -s /bin/bash -c '"$@"' -- "$CAL_USER" ca-login "${e[@]}" "$@" ;;
      *) continue ;;
    esac
    tmo "$((s + 5))" "$@" </dev/null
    return
  done
  log "error: none of $CAL_SWITCH to run as $CAL_USER; skipped (never as root): $*"
  return 1
}

# tmo SECS CMD...: root's /usr/bin/timeout, in the script's process group (the outer bound reaches it).
tmo() { /usr/bin/timeout --foreground -k 5 "$@"; }

# rd SECS: root's bounded reader (time, 64 KiB) of a user step's output, to stderr. A user process gets only
# this pipe, never an fd to a root file or to the script's own output.
rd() { tmo "$(($1 + 10))" /usr/bin/head -c 65536 >&2; }

# as_user SECS CMD...: user, with stdout and stderr through rd.
as_user() {
  user "$@" 2>&1 | rd "$1"
  return "${PIPESTATUS[0]}"
}

# root_safe PATH: PATH, resolved and as given (a link on the way), and every dir above are root's, not
# group/other writable (a root sticky dir above, like /tmp, is fine). Logs why not.
root_safe() {
  local p u m t top no="refused to run $1 as root:"
  p=$(readlink -e -- "$1") || { log "refused $1: not found"; return 1; }
  for p in "$p" "$1"; do
    top=1
    while :; do
      IFS=: read -r u m t < <(stat -c '%u:%a:%F' -- "$p")
      if [ "$u" != 0 ]; then
        log "$no $p belongs to uid $u"
        return 1
      fi
      if [ "$t" != "symbolic link" ] && ((8#$m & 8#022)) && { [ -n "$top" ] || ! ((8#$m & 8#1000)); }; then
        log "$no $p is group or other writable (mode $m)"
        return 1
      fi
      [ "$p" = / ] || [ "$p" = . ] && break
      p=$(dirname -- "$p") top=
    done
  done
}

# env_root_safe ENV: its python is root_safe; nothing in ENV is another's or group/other writable.
env_root_safe() {
  local bad
  root_safe "$1" && root_safe "$1/bin/python" || return 1
  bad=$(find "$1" -xdev ! -type l \( ! -uid 0 -o -perm /022 \) -print -quit 2>&1)
  [ -z "$bad" ] && return 0
  log "refused to run $1/bin/python as root: $bad is not root's alone"
  return 1
}

# The wheel, copied into root's $CAL_WORK/wheel by a reader running as the user (root opens nothing of
# theirs; bounded in time and size), hashed there. Every install reads that copy, which the user cannot
# change: what was checked is what gets installed. Prints its path.
wheel_file() {
  local f get name w got rc d="${CAL_WORK:?}/wheel" max=67108864
  rd_wheel() { tmo "$((CAL_STEP_TIMEOUT + 10))" /usr/bin/head -c "$((max + 1))"; }
  rm -rf -- "$d" && mkdir -m 0755 -- "$d" || return 1 # CAL_WORK: checked in main, root's alone
  case "$CAL_WHEEL" in
    s3://*) f=$CAL_WHEEL get=("$CAL_AWS" s3 cp --only-show-errors "$f" -) ;;
    *)
      f=$(compgen -G "$CAL_WHEEL" | sort -V | tail -n 1)
      [ -n "$f" ] ||
        { fail "no wheel at $CAL_WHEEL" "copy ca_login-*.whl there (\`make wheel\` builds it), or pass --wheel"; return; }
      get=(/usr/bin/cat -- "$f")
      ;;
  esac
  name=${f##*/} w=$d/$name
  [[ $name == ?*.whl ]] || { log "error: $f is not a .whl file"; return 1; }
  # the reader (the user's aws or cat) writes only into the pipe; root's rd_wheel writes the file
  { user "$CAL_STEP_TIMEOUT" "${get[@]}" 2>&3 3>&- | rd_wheel >"$w" 3>&-; } 3>&1 | rd "$CAL_STEP_TIMEOUT"
  rc=$?
  if [ "$rc" != 0 ] || [ "$(stat -c %s -- "$w")" -gt "$max" ]; then
    rm -f -- "$w"
    fail "cannot read $f as $CAL_USER (within ${CAL_STEP_TIMEOUT}s and 64 MiB)" \
      "for s3://, the subnet needs an S3 gateway endpoint, the role s3:GetObject"
    return
  fi
  got=$(sha256sum -- "$w") got=${got%% *}
  if [ "$got" != "${CAL_WHEEL_SHA256,,}" ]; then
    rm -f -- "$w"
    fail "refused $f: its sha256 is $got, the script expects $CAL_WHEEL_SHA256; nothing installed" \
      "stage the script's wheel, or regenerate the script: --wheel-file WHEEL"
    return
  fi
  chmod 0644 -- "$w" && printf '%s\n' "$w"
}

# install_into ENV: pip install the checked wheel, as the user if ENV is theirs, as root if root-safe.
install_into() {
  local env=$1 owner run=(tmo "$CAL_STEP_TIMEOUT" /usr/bin/env -i PATH="$PATH" HOME="$CAL_WORK" LANG=C.UTF-8)
  [ -x "$env/bin/python" ] || { log "skip $env: no bin/python"; return 0; }
  owner=$(stat -c %U -- "$env") || return 1
  if [ "$owner" = "$CAL_USER" ]; then
    run=(as_user "$CAL_STEP_TIMEOUT")
  elif [ "$owner" != root ] || ! env_root_safe "$env"; then
    log "error: not installing into $env (owner $owner): not $CAL_USER's, nor root's alone"
    return 1
  fi
  # -I: no cwd, user site or PYTHON* on sys.path; pip --isolated: no PIP_* or user config
  "${run[@]}" "$env/bin/python" -I -m pip install --isolated --no-index --no-deps --no-cache-dir \
    --disable-pip-version-check --no-input --quiet "$CAL_WHEEL_PATH" >&2 ||
    { log "error: pip could not install into $env (output above)"; return 1; }
  log "installed ca_login into $env (as $owner)"
}

# The pip files to log in: the user's, and each env's own site file (the first 64; the rest logged, skipped).
pip_files() {
  local e n=0
  printf '%s\n' "$CAL_HOME/.config/pip/pip.conf"
  for e in "$CAL_CONDA" "$CAL_CONDA"/envs/*; do
    [ -f "$e/pip.conf" ] || continue
    ((++n > 64)) && { log "skipped $e/pip.conf: more than 64 env pip files"; continue; }
    printf '%s\n' "$e/pip.conf"
  done
}

configure_user() {
  local o v args=(configure --replace --domain "$CAL_DOMAIN" --repository "$CAL_REPOSITORY")
  # each that is set: CAL_DOMAIN_OWNER as --domain-owner VALUE, and so on
  for o in DOMAIN_OWNER REGION ENDPOINT_URL REPOSITORY_ENDPOINT_URL DURATION_SECONDS; do
    v=CAL_$o o=${o,,}
    [ -n "${!v}" ] && args+=("--${o//_/-}" "${!v}")
  done
  [ -n "$CAL_TOOLS" ] && args+=(--tool "$CAL_TOOLS")
  case $CAL_IPYTHON_EXTENSION in 1) args+=(--ipython-extension) ;; 0) args+=(--no-ipython-extension) ;; esac
  # as the user, with their HOME and no IPYTHONDIR: the startup file goes into ~/.ipython, theirs, 0600
  as_user "$CAL_STEP_TIMEOUT" "$CAL_CLI" "${args[@]}" ||
    { log "error: could not write the ca-login config for $CAL_USER"; return 1; }
}

# Renew each pip file whose token has less than CAL_REFRESH_WITHIN s left (runs as the user).
refresh_once() {
  local f
  while IFS= read -r f; do
    /usr/bin/timeout -k 5 "$CAL_STEP_TIMEOUT" "$CAL_CLI" login --if-expiring-within "$CAL_REFRESH_WITHIN" \
      --config-file "$f"
  done < <(pip_files)
}

# Neither cron nor systemd: check every CAL_LOOP_SECONDS, as the user, for at most CAL_LOOP_MAX s (then
# its whole process group ends, the sleep too); logs to the user's own ~/.ca-login-refresh.log.
refresh_loop() {
  exec >>"$HOME/.ca-login-refresh.log" 2>&1
  while /usr/bin/sleep "$CAL_LOOP_SECONDS"; do refresh_once; done
}

# renewals Q BEFORE AFTER: per pip file, "BEFORE CLI login --if-expiring-within N --config-file FILE AFTER",
# CLI and FILE quoted by the function Q (sd_q for a systemd unit, sh_q for a crontab).
renewals() {
  local f
  while IFS= read -r f; do
    printf '%s%s login --if-expiring-within %s --config-file %s%s\n' "$2" "$("$1" "$CAL_CLI")" \
      "$CAL_REFRESH_WITHIN" "$("$1" "$f")" "$3"
  done < <(pip_files)
}

sh_q() { printf '%q' "$1"; }

# A value in a systemd unit: quoted, with no expansion of $ or %.
sd_q() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"} s=${s//%/%%} s=${s//\$/\$\$}
  printf '"%s"' "$s"
}

# A timer whose service runs as the user (User=); the units in root's CAL_UNIT_DIR.
systemd_refresh() {
  local u="${CAL_UNIT_DIR:?}/ca-login-refresh" sctl
  sctl=$(command -v "$CAL_SYSTEMCTL") && root_safe "$sctl" && root_safe "$CAL_UNIT_DIR" || return 1
  {
    printf '[Unit]\nDescription=ca-login token refresh for %s\n\n[Service]\nType=oneshot\nUser=%s\n' \
      "$CAL_USER" "$CAL_USER"
    printf 'Environment=%s\nTimeoutStartSec=%s\n' "$(sd_q "HOME=$CAL_HOME")" "$((CAL_STEP_TIMEOUT * 4))"
    renewals sd_q ExecStart=- ""
  } >"$u.service.tmp" || return 1
  printf '[Timer]\nOnBootSec=120\nOnUnitActiveSec=%s\n\n[Install]\nWantedBy=timers.target\n' \
    "$CAL_LOOP_SECONDS" >"$u.timer.tmp" || return 1
  mv -f -- "$u.service.tmp" "$u.service" && mv -f -- "$u.timer.tmp" "$u.timer" &&
    timeout 30 "$sctl" daemon-reload && timeout 30 "$sctl" enable --now ca-login-refresh.timer >&2 || return 1
  log "refresh: systemd timer ca-login-refresh.timer (every ${CAL_LOOP_SECONDS}s, as $CAL_USER)"
}

# The user's crontab: one line per pip file (marked `# ca-login`; other lines stay; an unreadable one is
# left as it is). No crontab: a systemd timer where systemd runs. Else a loop.
schedule_refresh() {
  local lines cur cron err="${CAL_WORK:?}/crontab.err"
  # shellcheck disable=SC2016  # $HOME: the user's, expanded by cron's shell
  lines=$(renewals sh_q "$CAL_SCHEDULE timeout $CAL_STEP_TIMEOUT " ' >>$HOME/.ca-login-refresh.log 2>&1 # ca-login')
  if ! cron=$(command -v "$CAL_CRONTAB"); then
    log "no crontab command"
    [ -d "$CAL_SYSTEMD" ] && systemd_refresh && return 0
  elif ! root_safe "$cron"; then
    :
  elif ! cur=$(timeout 30 "$cron" -u "$CAL_USER" -l 2>"$err") && ! grep -q 'no crontab for' "$err"; then
    fail "cannot read $CAL_USER's crontab, left as it is: $(tr '\n' ' ' <"$err" | head -c 300)" \
      "check \`crontab -l -u $CAL_USER\` as root"
  else
    cur=$(printf '%s\n' "$cur" | grep -v '# ca-login$')
    if printf '%s\n' "${cur:+$cur$'\n'}$lines" | timeout 30 "$cron" -u "$CAL_USER" -; then
      log "refresh: $CAL_USER's crontab ($CAL_SCHEDULE, renews under ${CAL_REFRESH_WITHIN}s left)"
      return 0
    fi
    log "crontab failed for $CAL_USER"
  fi
  log "refresh: a background loop as $CAL_USER, every ${CAL_LOOP_SECONDS}s (for ${CAL_LOOP_MAX}s)"
  export -f log tmo user pip_files refresh_once refresh_loop
  export "${!CAL_@}"
  # shellcheck disable=SC2016  # expanded by that bash
  nohup /usr/bin/setsid bash -c 'user "$CAL_LOOP_MAX" /bin/bash -c refresh_loop' </dev/null >/dev/null 2>&1 &
  echo "$!" >"${CAL_WORK:?}/refresh.pid"
}

# One login per pip file, as the user, with retries.
login_all() {
  local f n rc=0
  while IFS= read -r f; do
    for ((n = 1; n <= CAL_LOGIN_ATTEMPTS; n++)); do
      as_user "$CAL_STEP_TIMEOUT" "$CAL_CLI" login --config-file "$f" && continue 2
      log "login for $f failed (attempt $n of $CAL_LOGIN_ATTEMPTS)"
      [ "$n" -lt "$CAL_LOGIN_ATTEMPTS" ] && sleep "$CAL_RETRY_SLEEP"
    done
    fail "gave up logging in $f; the refresh will retry" \
      "\`ca-login diagnose\` in the instance's terminal names the missing piece" || rc=1
  done < <(pip_files)
  return "$rc"
}

# Local steps: the checked wheel, the CLI's env, the config, the schedule.
setup_cli() {
  CAL_WHEEL_PATH=$(wheel_file) && export CAL_WHEEL_PATH && install_into "$CAL_CLI_ENV" && configure_user &&
    schedule_refresh
}

background() {
  local e
  set -o pipefail
  log "background: started (at most ${CAL_BG_TIMEOUT}s)"
  # an s3:// wheel: the local steps too (main did them for a path)
  [[ $CAL_WHEEL != s3://* ]] || setup_cli || { log "background: stopped"; return 0; }
  login_all && log "login done for $CAL_USER"
  # the envs whose `import ca_login` should work: conda base and each env with a python but the CLI's
  for e in "$CAL_CONDA" "$CAL_CONDA"/envs/*; do
    [ "$e" = "$CAL_CLI_ENV" ] || [ ! -x "$e/bin/python" ] || install_into "$e"
  done
  log "background: done"
}

main() {
  if [ "$(id -u)" != 0 ]; then
    fail "a notebook instance's on-start script runs as root" \
      "for a Studio space: \`ca-login lifecycle-script --target studio\`"
    return 0
  fi
  local d e fns logdir=${CAL_LOG%/*}
  abs_paths CAL_HOME CAL_CONDA CAL_CLI_ENV CAL_WORK CAL_LOG CAL_UNIT_DIR CAL_SYSTEMD || return 0
  [[ $CAL_WHEEL == s3://* ]] || abs_paths CAL_WHEEL || return 0
  # Root writes only in CAL_WORK and the log's dir: no link on the way, root's alone, else nothing is done.
  for d in "$CAL_WORK" "${logdir:=/}"; do
    e=$d
    while [ ! -e "$e" ]; do e=${e%/*} e=${e:-/}; done
    if [ "$(readlink -m -- "$d")" != "$d" ] || ! root_safe "$e"; then
      log "error: $d must be root's alone, with no link on the way; stopped"
      return 0
    fi
  done
  if [ -L "$CAL_LOG" ] || { [ -e "$CAL_LOG" ] && [ ! -f "$CAL_LOG" ]; }; then
    log "error: the log $CAL_LOG is not a regular file; stopped"
    return 0
  fi
  mkdir -p -- "$CAL_WORK" "$logdir" || return 0 # umask 022: 0755
  exec 2> >(tee -a -- "$CAL_LOG" >&2)
  log "start: user $CAL_USER, wheel $CAL_WHEEL, domain $CAL_DOMAIN, repository $CAL_REPOSITORY"
  if ! CAL_UID=$(id -u -- "$CAL_USER" 2>/dev/null) || ! CAL_GID=$(id -g -- "$CAL_USER"); then
    fail "no user $CAL_USER here" "regenerate the script with the right --target, or set CAL_USER"
    return 0
  fi
  export CAL_UID CAL_GID
  # a path: the local steps now (an s3:// wheel needs the network: in the background)
  [[ $CAL_WHEEL == s3://* ]] || setup_cli || { log "nothing more to do"; return 0; }
  mapfile -t fns < <(compgen -A function) # every function above, for the background's bash
  export -f "${fns[@]}"
  export "${!CAL_@}"
  # The bound kills timeout's process group; steps use `timeout --foreground` to stay in it.
  local bg=(nohup /usr/bin/timeout -k 5 "$CAL_BG_TIMEOUT" bash -c background)
  if [ "$CAL_BG_STDERR" = 1 ]; then
    "${bg[@]}" </dev/null >&2 &
  else
    "${bg[@]}" </dev/null >>"$CAL_LOG" 2>&1 &
  fi
  echo "$!" >"${CAL_WORK:?}/background.pid"
  log "login continues in the background (pid $!, at most ${CAL_BG_TIMEOUT}s); log: $CAL_LOG"
}

main
exit 0
