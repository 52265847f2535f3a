#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for CI and for trying
# scripts/gigadream.sbatch: a private munged, slurmctld and slurmd from
# Debian's slurm-wlm (22.05) and munge, started by hand (no systemd needed).
#
#   scripts/slurm-local.sh start [--fresh]   start it (--fresh: forget old jobs first)
#   scripts/slurm-local.sh stop              cancel its jobs, stop its daemons
#   scripts/slurm-local.sh status            exit 0 when all three daemons run
#
# Everything lives in a private folder, never in the repository, and never in
# /etc: $GIGADREAM_SLURM_DIR (default /tmp/gigadream-slurm) holds slurm.conf,
# the munge key and socket, the controller's state, slurmd's spool and the logs.
# Ports: $GIGADREAM_SLURM_PORT (default 6817) for slurmctld, the next one for
# slurmd.  start and stop are idempotent.  Must run as root (SlurmUser=root).
# Then:  export SLURM_CONF=$GIGADREAM_SLURM_DIR/slurm.conf; sinfo; sbatch ...
set -euo pipefail

dir=${GIGADREAM_SLURM_DIR:-/tmp/gigadream-slurm}
port=${GIGADREAM_SLURM_PORT:-6817}
start_timeout=${GIGADREAM_SLURM_START_TIMEOUT:-60}
conf=$dir/slurm.conf
node=$(hostname -s)
export SLURM_CONF=$conf

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: error: $*" >&2; exit 1; }

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

# pid_of NAME PIDFILE: the pid in PIDFILE if that process is alive and is NAME.
pid_of() {
  local name=$1 file=$2 pid comm
  [ -s "$file" ] || return 1
  pid=$(head -n1 "$file" 2>/dev/null | tr -dc 0-9)
  [ -n "$pid" ] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  # A zombie (killed, not yet reaped) is not running.
  [ "$(awk '{ sub(/^[0-9]+ \(.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  [ "${comm#"$name"}" != "$comm" ] || return 1 # comm may be truncated/suffixed
  echo "$pid"
}

munged_pidfile=$dir/munge/munged.pid
ctld_pidfile=$dir/run/slurmctld.pid
slurmd_pidfile=$dir/run/slurmd.pid

log_tails() {
  local f
  for f in "$dir/munge/munged.log" "$dir/log/slurmctld.log" "$dir/log/slurmd.log"; do
    [ -s "$f" ] || continue
    echo "---- last lines of $f" >&2
    tail -n 15 "$f" >&2
  done
}

write_conf() {
  # The node as slurmd itself detects it (sockets, cores, threads), with a
  # little less memory than it sees so the node never fails registration.
  local cpus layout mem_kb mem
  cpus=$(nproc --all)
  layout="CPUs=$cpus"
  local detected
  if detected=$(slurmd -C 2>/dev/null | head -n1) && [ -n "$detected" ]; then
    layout=$(echo "$detected" | tr ' ' '\n' |
      grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')
  fi
  mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
  mem=$((mem_kb * 9 / 10 / 1024))
  cat >"$conf.tmp" <<EOF
# Written by scripts/slurm-local.sh: a single-node cluster on $node.
ClusterName=gigadream
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=${GIGADREAM_SLURM_CRED_EXPIRE:-10}
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$ctld_pidfile
SlurmdPidFile=$slurmd_pidfile
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
# Step temporary files (srun --mpi=pmix makes spmix_appdir_UID_JOB.STEP here): private,
# so that two local clusters, or a restart with --fresh, never collide on job ids.
TmpFS=$dir/tmp
MailProg=/bin/true
# No cgroups (containers, CI machines): track processes through /proc, no binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# The batch script chooses srun --mpi=pmix itself (or mpirun).
MpiDefault=none
SchedulerType=sched/backfill
# Look at the queue every few seconds (a requeued job starts soon after its BeginTime).
SchedulerParameters=sched_interval=5,bf_interval=5
# Requeue: jobs may be requeued (scontrol requeue, the batch script's self-requeue).
JobRequeue=1
# SIGTERM, then SIGKILL this many seconds later: the time a rank has to
# finish its tile and write a checkpoint when a job is cancelled or requeued.
KillWait=30
ReturnToService=2
# Finished jobs stay visible to scontrol show job for an hour (no slurmdbd, no sacct).
MinJobAge=3600
AccountingStorageType=accounting_storage/none
# One line per finished (or requeued) job, with its state and exit code.
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.log
NodeName=$node NodeAddr=127.0.0.1 $layout RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$conf.tmp" "$conf"
  : >"$dir/plugstack.conf"
}

start_munged() {
  if pid_of munged "$munged_pidfile" >/dev/null; then
    return 0
  fi
  local key=$dir/munge/munge.key
  if [ ! -s "$key" ]; then
    say "creating a munge key in $key"
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile="$key" --force >/dev/null
    else
      dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    fi
  fi
  chmod 600 "$key"
  rm -f "$dir/munge/munge.socket" "$dir/munge/munge.socket.lock"
  munged --force --socket="$dir/munge/munge.socket" --key-file="$key" \
    --pid-file="$munged_pidfile" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" </dev/null >>"$dir/munge/munged.log" 2>&1 ||
    { log_tails; die "munged did not start"; }
  for _ in $(seq 50); do
    munge -S "$dir/munge/munge.socket" -n 2>/dev/null | unmunge -S "$dir/munge/munge.socket" >/dev/null 2>&1 &&
      return 0
    sleep 0.1
  done
  log_tails
  die "munged runs but does not answer on $dir/munge/munge.socket"
}

node_state() { sinfo -h -n "$node" -o %T 2>/dev/null | head -n1; }

do_start() {
  local fresh=0 a
  for a in "$@"; do
    case "$a" in
      --fresh) fresh=1 ;;
      *) die "start: unknown option '$a'" ;;
    esac
  done
  [ "$(id -u)" -eq 0 ] || die "run as root (the local cluster runs its daemons and jobs as root)"
  local b
  for b in munged munge unmunge slurmctld slurmd sinfo sbatch scontrol; do
    command -v "$b" >/dev/null ||
      die "'$b' not found: install munge slurmctld slurmd slurm-client (scripts/setup.sh --deps-only)"
  done

  local ctld slurmd_pid
  ctld=$(pid_of slurmctld "$ctld_pidfile" || true)
  slurmd_pid=$(pid_of slurmd "$slurmd_pidfile" || true)
  if [ -n "$ctld" ] && [ -n "$slurmd_pid" ] && pid_of munged "$munged_pidfile" >/dev/null; then
    if [ "$fresh" -eq 1 ]; then
      say "running: restarting it fresh"
      do_stop
      ctld=""
      slurmd_pid=""
    else
      say "already running in $dir"
      wait_idle
      print_usage
      return 0
    fi
  fi

  mkdir -p "$dir"/{munge,state,spool,log,run,tmp}
  chmod 755 "$dir/munge" # the key in it is private (0600), its socket is for everyone
  if [ "$fresh" -eq 1 ]; then
    rm -rf "${dir:?}/state" "${dir:?}/spool" "${dir:?}/tmp"
    mkdir -p "$dir/state" "$dir/spool" "$dir/tmp"
    # Job ids start again at 1: keep the old completion records apart.
    [ -f "$dir/log/jobcomp.log" ] && mv "$dir/log/jobcomp.log" "$dir/log/jobcomp.log.old"
  fi
  # Keep the configuration of a half-running cluster: its daemons read it.
  if [ -z "$ctld" ] && [ -z "$slurmd_pid" ]; then
    write_conf
  fi

  start_munged
  if [ -z "$ctld" ]; then
    slurmctld -f "$conf" </dev/null >>"$dir/log/slurmctld.log" 2>&1 ||
      { log_tails; die "slurmctld did not start"; }
  fi
  if [ -z "$slurmd_pid" ]; then
    slurmd -f "$conf" </dev/null >>"$dir/log/slurmd.log" 2>&1 ||
      { log_tails; die "slurmd did not start"; }
  fi
  wait_idle
  say "started: cluster 'gigadream', node $node, partition 'local' ($(sinfo -h -o %c -n "$node") CPUs)"
  print_usage
}

wait_idle() {
  local t0=$SECONDS state=""
  while [ $((SECONDS - t0)) -lt "$start_timeout" ]; do
    state=$(node_state || true)
    case "$state" in
      idle | mixed | allocated | completing) return 0 ;;
    esac
    local d f
    for d in slurmctld slurmd; do
      [ "$d" = slurmctld ] && f=$ctld_pidfile || f=$slurmd_pidfile
      if ! pid_of "$d" "$f" >/dev/null; then
        sleep 0.5 # the pid file may trail the fork
        pid_of "$d" "$f" >/dev/null || { log_tails; die "$d died while starting; logs in $dir/log"; }
      fi
    done
    sleep 0.5
  done
  log_tails
  die "node $node not ready after ${start_timeout}s (state: '${state:-controller not answering}'); logs in $dir/log"
}

print_usage() {
  cat <<EOF
slurm-local: use it with
  export SLURM_CONF=$conf
  sinfo; sbatch scripts/gigadream.sbatch JOB.ini; squeue; scontrol show job ID
slurm-local: logs in $dir/log (jobcomp.log: one line per finished job); stop with scripts/slurm-local.sh stop
EOF
}

# stop_daemon NAME PIDFILE: SIGTERM, wait up to 15 s, then SIGKILL.
stop_daemon() {
  local name=$1 file=$2 pid
  pid=$(pid_of "$name" "$file") || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do
    pid_of "$name" "$file" >/dev/null || { rm -f "$file"; say "stopped $name ($pid)"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
  say "killed $name ($pid): it did not stop within 15 s"
}

# step_of_ours PID: PID holds a socket in this cluster's slurmd spool folder.
step_of_ours() {
  local inodes
  inodes=$(awk -v d="$dir/spool/" 'index($8, d) == 1 { print $7 }' /proc/net/unix 2>/dev/null) || return 1
  [ -n "$inodes" ] || return 1
  local fd link
  for fd in "/proc/$1/fd/"*; do
    link=$(readlink "$fd" 2>/dev/null) || continue
    case "$link" in
      socket:*) link=${link#socket:[}; grep -qxF "${link%]}" <<<"$inodes" && return 0 ;;
    esac
  done
  return 1
}

# proc_table: "PID PPID NAME" for every process (from /proc: no procps needed).
proc_table() {
  local f line rest pid ppid
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    pid=${line%% *}
    rest=${line##*) }
    ppid=${rest#* }
    ppid=${ppid%% *}
    line=${line#* (}
    echo "$pid $ppid ${line%) *}"
  done
}

# descendants PID...: every process below the PIDs.
descendants() {
  proc_table | awk -v roots="$*" '
    { kids[$2] = kids[$2] " " $1 }
    END {
      n = split(roots, todo, " ")
      for (i = 1; i <= n; i++) {
        m = split(kids[todo[i]], k, " ")
        for (j = 1; j <= m; j++) { print k[j]; todo[++n] = k[j] }
      }
    }'
}

do_stop() {
  # Jobs first, so that no slurmstepd or rank outlives the cluster.
  if pid_of slurmctld "$ctld_pidfile" >/dev/null && [ -s "$conf" ]; then
    local jobs
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ' || true)
    if [ -n "${jobs// /}" ]; then
      say "cancelling jobs: $jobs"
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      # KillWait (30 s) plus a margin for the steps to report.
      for _ in $(seq 90); do
        [ -z "$(squeue -h -o %A 2>/dev/null || true)" ] && break
        sleep 0.5
      done
    fi
  fi
  stop_daemon slurmd "$slurmd_pidfile"
  stop_daemon slurmctld "$ctld_pidfile"
  # Steps whose controller died would run on: kill what is left of this
  # cluster's slurmstepd processes (working folder $dir/log, sockets in
  # $dir/spool) and everything they started.
  local p victims=""
  for p in $(proc_table | awk '$3 == "slurmstepd" { print $1 }'); do
    if [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$dir/log" ] || step_of_ours "$p"; then
      victims="$victims $p $(descendants "$p" | tr '\n' ' ')"
    fi
  done
  if [ -n "${victims// /}" ]; then
    say "killing leftover job steps:$victims"
    # shellcheck disable=SC2086
    kill -KILL $victims 2>/dev/null || true
  fi
  stop_daemon munged "$munged_pidfile"
  return 0
}

do_status() {
  local rc=0 name file pid
  for name in munged slurmctld slurmd; do
    case $name in
      munged) file=$munged_pidfile ;;
      slurmctld) file=$ctld_pidfile ;;
      slurmd) file=$slurmd_pidfile ;;
    esac
    if pid=$(pid_of "$name" "$file"); then
      echo "$name: running ($pid)"
    else
      echo "$name: stopped"
      rc=1
    fi
  done
  if [ "$rc" -eq 0 ]; then
    echo "SLURM_CONF=$conf"
    sinfo 2>&1 || rc=1
    squeue 2>&1 || true
  fi
  return "$rc"
}

case "${1:-}" in
  start) shift; do_start "$@" ;;
  stop) do_stop; say "stopped (state and logs kept in $dir)" ;;
  status) do_status ;;
  -h | --help) usage ;;
  *) usage >&2; exit 1 ;;
esac
