#!/bin/bash
# ca-login @@VERSION@@ Studio lifecycle script; commented: the wheel's ca_login/lifecycle/studio.sh
#
# For JupyterLab or Code Editor (user sagemaker-user); made by `ca-login lifecycle-script --target studio`.
# Studio runs it as sagemaker-user, with no root and no sudo: nothing here needs either. At every start it
# checks the wheel's sha256 and installs it into $CAL_CONDA's base env (`pip install --user` if that is not
# writable), writes the user's ca-login config (tools too), logs pip in, and keeps the token fresh without
# cron: with CAL_IPYTHON_EXTENSION=1 (the default) `ca-login configure --ipython-extension` writes the IPython
# startup file that loads the extension in every kernel (it renews the token before each pip or uv cell),
# and a bounded background loop renews it. The container-credential variables (which later processes do not
# inherit) are handed over in $CAL_HOME/.config/ca-login/container-env (mode 0600, never printed), which the
# extension reads at each kernel start. Always exits 0 at once: network
# work runs in the background, bounded. README "SageMaker" says more. The generator drops the comments,
# blank lines and indentation from what it prints (SageMaker limits the size).
# shellcheck disable=SC2317  # background functions run through `bash -c` (exported)
set -uo pipefail
umask 022 # the hand-over file is made 0600 (mktemp); ca-login writes its own files 0600

: "${CAL_USER=@@USER@@}"                 # the Studio user (the script runs as this user)
: "${CAL_HOME=@@HOME@@}"                 # that user's home (the space's volume)
: "${CAL_CONDA=@@CONDA@@}"               # the base env the kernels run
: "${CAL_WHEEL=@@WHEEL@@}"               # path (a * picks the newest) or s3://BUCKET/KEY.whl
: "${CAL_WHEEL_SHA256:=@@WHEEL_SHA256@@}" # the wheel must have this sha256, else nothing is installed
: "${CAL_WORK=@@WORK@@}"                 # the checked wheel, pid files
: "${CAL_LOG=@@LOG@@}"
: "${CAL_AWS:=aws}"                       # AWS CLI, for an s3:// wheel
: "${CAL_IPYTHONDIR:=$CAL_HOME/.ipython}"  # the kernels' IPython dir (its profile_default/startup/)
: "${CAL_REFRESH_WITHIN:=@@REFRESH_WITHIN@@}"
: "${CAL_LOOP_SECONDS:=1800}"             # the loop checks this often
: "${CAL_LOOP_MAX:=2592000}"              # and ends after this (30 days)
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
CAL_PY="$CAL_CONDA/bin/python"
CAL_CREDS="$CAL_HOME/.config/ca-login/container-env" # the extension reads ~/.config/ca-login/container-env
export PATH="$CAL_CONDA/bin:$PATH"
cd / || exit 0 # a fixed working directory: python -m puts it on sys.path

log() { printf '%s ca-login-lifecycle: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

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

# The container-credential variables for whatever runs later (the loop, kernels): NAME=VALUE lines, 0600.
hand_over() {
  local n tmp
  mkdir -p -- "${CAL_CREDS%/*}" && tmp=$(mktemp -- "$CAL_CREDS.XXXXXX") || return 1
  for n in AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI \
    AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_REGION AWS_DEFAULT_REGION; do
    if [ -n "${!n:-}" ] && [[ ${!n} != *$'\n'* ]]; then
      printf '%s=%s\n' "$n" "${!n}"
    fi
  done >"$tmp"
  if ! chmod 0600 -- "$tmp" || ! mv -f -- "$tmp" "$CAL_CREDS"; then
    rm -f -- "$tmp"
    return 1
  fi
  log "container credentials handed over in $CAL_CREDS (mode 0600)"
}

load_creds() {
  local line
  while IFS= read -r line; do
    case ${line%%=*} in
      AWS_CONTAINER_* | AWS_REGION | AWS_DEFAULT_REGION) export "${line%%=*}=${line#*=}" ;;
    esac
  done <"$CAL_CREDS"
}

# The wheel, copied into $CAL_WORK/wheel (bounded in time and size) and hashed there; pip installs that
# copy, so what was checked is what gets installed. Prints its path.
wheel_file() {
  local f name got rc d="${CAL_WORK:?}/wheel" max=67108864
  rm -rf -- "$d" && mkdir -- "$d" || return 1
  case "$CAL_WHEEL" in
    s3://*)
      f=$CAL_WHEEL name=${CAL_WHEEL##*/}
      timeout --foreground -k 5 "$CAL_STEP_TIMEOUT" "$CAL_AWS" s3 cp --only-show-errors "$f" - |
        head -c "$((max + 1))" >"$d/$name"
      rc=${PIPESTATUS[0]}
      ;;
    *)
      f=$(compgen -G "$CAL_WHEEL" | sort -V | tail -n 1)
      if [ -z "$f" ]; then
        log "error: no wheel at $CAL_WHEEL"
        log "hint: upload ca_login-*.whl there (see the README: \`make wheel\`), or pass --wheel"
        return 1
      fi
      name=${f##*/}
      [[ $name == ?*.whl ]] || { log "error: $f is not a .whl file"; return 1; }
      timeout --foreground -k 5 "$CAL_STEP_TIMEOUT" head -c "$((max + 1))" -- "$f" >"$d/$name"
      rc=$?
      ;;
  esac
  if [ "$rc" != 0 ] || [ "$(stat -c %s -- "$d/$name")" -gt "$max" ]; then
    rm -f -- "$d/$name"
    log "error: cannot read $f (within ${CAL_STEP_TIMEOUT}s and 64 MiB)"
    log "hint: for s3://, the space's role needs s3:GetObject (and its VPC an S3 endpoint)"
    return 1
  fi
  got=$(sha256sum -- "$d/$name") got=${got%% *}
  if [ "$got" != "${CAL_WHEEL_SHA256,,}" ]; then
    rm -f -- "$d/$name"
    log "error: refused $f: its sha256 is $got, the script expects $CAL_WHEEL_SHA256; nothing installed"
    log "hint: stage the wheel the script was made for, or regenerate it with --wheel-file WHEEL"
    return 1
  fi
  printf '%s\n' "$d/$name"
}

# Into the base env if its site-packages is writable, else into the user's site (pip install --user).
install_base() {
  local user=()
  if ! "$CAL_PY" -c 'import os, sys, sysconfig; sys.exit(not os.access(sysconfig.get_path("purelib"), os.W_OK))'
  then
    user=(--user)
  fi
  if timeout --foreground -k 5 "$CAL_STEP_TIMEOUT" "$CAL_PY" -m pip install --no-index --no-deps --no-cache-dir \
    --disable-pip-version-check --no-input --quiet ${user[@]+"${user[@]}"} "$1" >&2; then
    log "installed ca_login into $CAL_CONDA${user[*]:+ (--user)}"
  else
    log "error: pip could not install $1 into $CAL_CONDA (output above)"
    return 1
  fi
}

# The pip files to log in: the user's, and each env's own site file.
pip_files() {
  local e
  printf '%s\n' "$CAL_HOME/.config/pip/pip.conf"
  for e in "$CAL_CONDA" "$CAL_CONDA"/envs/*; do
    if [ -f "$e/pip.conf" ]; then
      printf '%s\n' "$e/pip.conf"
    fi
  done
}

configure_user() {
  local args=(configure --replace --domain "$CAL_DOMAIN" --repository "$CAL_REPOSITORY")
  [ -n "$CAL_DOMAIN_OWNER" ] && args+=(--domain-owner "$CAL_DOMAIN_OWNER")
  [ -n "$CAL_REGION" ] && args+=(--region "$CAL_REGION")
  [ -n "$CAL_ENDPOINT_URL" ] && args+=(--endpoint-url "$CAL_ENDPOINT_URL")
  [ -n "$CAL_REPOSITORY_ENDPOINT_URL" ] && args+=(--repository-endpoint-url "$CAL_REPOSITORY_ENDPOINT_URL")
  [ -n "$CAL_DURATION_SECONDS" ] && args+=(--duration-seconds "$CAL_DURATION_SECONDS")
  [ -n "$CAL_TOOLS" ] && args+=(--tool "$CAL_TOOLS")
  case $CAL_IPYTHON_EXTENSION in 1) args+=(--ipython-extension) ;; 0) args+=(--no-ipython-extension) ;; esac
  if ! IPYTHONDIR=$CAL_IPYTHONDIR timeout --foreground -k 5 "$CAL_STEP_TIMEOUT" "$CAL_PY" -m ca_login \
    "${args[@]}" >&2; then
    log "error: could not write the ca-login config"
    return 1
  fi
}

refresh_once() {
  local f
  while IFS= read -r f; do
    timeout --foreground -k 5 "$CAL_STEP_TIMEOUT" "$CAL_PY" -m ca_login login \
      --if-expiring-within "$CAL_REFRESH_WITHIN" --config-file "$f"
  done < <(pip_files)
}

# Each round: the handed-over variables (newest first), then the renewals.
refresh_loop() {
  while sleep "$CAL_LOOP_SECONDS"; do
    [ -f "$CAL_CREDS" ] && load_creds
    refresh_once
  done
}

start_loop() {
  export -f log load_creds pip_files refresh_once refresh_loop
  export "${!CAL_@}"
  nohup setsid timeout --foreground "$CAL_LOOP_MAX" bash -c refresh_loop </dev/null >>"$CAL_LOG" 2>&1 &
  echo "$!" >"${CAL_WORK:?}/refresh.pid"
  log "refresh: a background loop every ${CAL_LOOP_SECONDS}s (for ${CAL_LOOP_MAX}s; pid $!)"
}

login_all() {
  local f n rc=0
  while IFS= read -r f; do
    for ((n = 1; n <= CAL_LOGIN_ATTEMPTS; n++)); do
      if timeout --foreground -k 5 "$CAL_STEP_TIMEOUT" "$CAL_PY" -m ca_login login --config-file "$f" >&2; then
        continue 2
      fi
      log "login for $f failed (attempt $n of $CAL_LOGIN_ATTEMPTS)"
      [ "$n" -lt "$CAL_LOGIN_ATTEMPTS" ] && sleep "$CAL_RETRY_SLEEP"
    done
    log "error: gave up logging in $f; the refresh will retry"
    log "hint: run \`ca-login diagnose\` in a terminal of the space to see which piece is missing"
    rc=1
  done < <(pip_files)
  return "$rc"
}

setup() {
  local w
  w=$(wheel_file) && install_base "$w" && configure_user && start_loop
}

background() {
  log "background: started (at most ${CAL_BG_TIMEOUT}s)"
  case "$CAL_WHEEL" in
    s3://*) setup || { log "background: stopped"; return 0; } ;;
  esac
  if login_all; then
    log "login done for $CAL_USER"
  fi
  log "background: done"
}

main() {
  if [ "$(id -un)" != "$CAL_USER" ]; then
    log "error: this script is for a Studio space and runs as $CAL_USER, not as $(id -un); nothing done"
    log "hint: for a notebook instance use \`ca-login lifecycle-script --target notebook-instance\`"
    return 0
  fi
  abs_paths CAL_HOME CAL_CONDA CAL_WORK CAL_LOG CAL_IPYTHONDIR || return 0
  [[ $CAL_WHEEL == s3://* ]] || abs_paths CAL_WHEEL || return 0
  if [ -L "$CAL_WORK" ] || ! mkdir -p -- "$CAL_WORK" "${CAL_LOG%/*}"; then
    log "error: cannot make $CAL_WORK (a directory, not a link) and the log's directory; stopped"
    return 0
  fi
  exec 2> >(tee -a -- "$CAL_LOG" >&2)
  log "start: user $(id -un), wheel $CAL_WHEEL, domain $CAL_DOMAIN, repository $CAL_REPOSITORY"
  hand_over || log "error: could not write $CAL_CREDS; later processes may lack the credentials"
  case "$CAL_WHEEL" in
    s3://*) ;;
    *) setup || { log "nothing more to do"; return 0; } ;;
  esac
  export -f log load_creds wheel_file install_base pip_files configure_user refresh_once \
    refresh_loop start_loop login_all setup background
  export "${!CAL_@}"
  # The bound kills timeout's process group; steps use `timeout --foreground` to stay in it.
  if [ "$CAL_BG_STDERR" = 1 ]; then
    nohup timeout -k 5 "$CAL_BG_TIMEOUT" bash -c background </dev/null >&2 &
  else
    nohup timeout -k 5 "$CAL_BG_TIMEOUT" bash -c background </dev/null >>"$CAL_LOG" 2>&1 &
  fi
  echo "$!" >"${CAL_WORK:?}/background.pid"
  log "login continues in the background (pid $!, at most ${CAL_BG_TIMEOUT}s); log: $CAL_LOG"
}

main
exit 0
