#!/usr/bin/env bash
# A throwaway single-node Slurm (slurmctld + slurmd + munged) for trying `shrink run --executor slurm`
# and for the cluster tests. No systemd, cgroups or sudo needed: everything lives in one folder,
# the daemons listen on private loopback ports and are stopped by the PIDs recorded at start.
#
#   scripts/dev-slurm.sh start    # prints `export SLURM_CONF=…`; eval it to use the cluster
#   scripts/dev-slurm.sh status   # exit 0 when the node is up
#   scripts/dev-slurm.sh stop
#   scripts/dev-slurm.sh run CMD… # start, run CMD with SLURM_CONF set, stop (also on failure)
#
# The folder is $SHRINK_SLURM_DIR (default: /tmp/shrink-slurm-UID). Needs the Debian packages
# slurmctld slurmd slurm-client munge (scripts/install-deps.sh installs them) and root, because
# slurmd starts jobs as their submitting user. The settings follow what works in a sandbox with
# Slurm 22.05: linuxproc process tracking, no task plugin, no accounting, cons_tres with CR_Core
# (memory is not a consumable, so `--mem` is accepted and jobs share the node) and no batch
# scheduling delay (the default 20-job delay made 20 trivial jobs take 29–59 s instead of 8 s).
set -euo pipefail

dir="${SHRINK_SLURM_DIR:-${TMPDIR:-/tmp}/shrink-slurm-$(id -u)}"
conf="$dir/slurm.conf"

say() { echo "dev-slurm: $*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_idle() {
  [ -f "$conf" ] || return 1
  local state
  state=$(SLURM_CONF="$conf" timeout 5 sinfo -h -N -o '%T' 2>/dev/null | head -1) || return 1
  [[ "$state" == idle* || "$state" == mixed* || "$state" == allocated* ]]
}

free_port() {
  # Two consecutive free loopback ports (controller, node daemon).
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -ltnH "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  say "no free port found"
  return 1
}

start() {
  if node_idle && alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid"; then
    say "already running"
    echo "export SLURM_CONF=$conf"
    return 0
  fi
  stop >/dev/null 2>&1 || true
  for tool in munged slurmctld slurmd sinfo sbatch; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
      say "error: $tool is missing; install slurmctld slurmd slurm-client munge (scripts/install-deps.sh)"
      exit 2
    }
  done
  [ "$(id -u)" -eq 0 ] || { say "error: run as root (slurmd starts jobs as their user)"; exit 2; }
  rm -rf "$dir"
  mkdir -p "$dir"/{state,spool,log,munge}
  chmod 755 "$dir"

  # munge: a fresh key and socket in the folder, owned by the munge user as munged insists.
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chown -R munge:munge "$dir/munge"
  chmod 711 "$dir/munge"
  chmod 400 "$dir/munge/munge.key"
  su -s /bin/sh munge -c "/usr/sbin/munged --key-file=$dir/munge/munge.key --socket=$dir/munge/munge.socket \
    --pid-file=$dir/munge/munged.pid --log-file=$dir/munge/munged.log --seed-file=$dir/munge/munged.seed" </dev/null >/dev/null 2>&1
  for _ in $(seq 1 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
  [ -S "$dir/munge/munge.socket" ] || { say "error: munged did not start; see $dir/munge/munged.log"; exit 3; }
  cp "$dir/munge/munged.pid" "$dir/munged.pid"

  local port host cpus memory
  port=$(free_port)
  host=$(hostname -s)
  cpus=$(nproc)
  memory=$(free -m | awk '/^Mem:/ { print int($2 * 0.9) }')
  : >"$dir/plugstack.conf"
  cat >"$conf" <<EOF
# Written by scripts/dev-slurm.sh; removed by \`stop\`.
ClusterName=shrinkdev
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SchedulerParameters=batch_sched_delay=0
SchedulerType=sched/backfill
PlugStackConfig=$dir/plugstack.conf
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MinJobAge=30
KillWait=5
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  # The daemons keep no descriptor of the caller's: a caller reading this script's output to its
  # end (a test harness) must not wait for them.
  SLURM_CONF="$conf" /usr/sbin/slurmctld -f "$conf" </dev/null >>"$dir/log/daemons.out" 2>&1
  SLURM_CONF="$conf" /usr/sbin/slurmd -f "$conf" </dev/null >>"$dir/log/daemons.out" 2>&1
  for _ in $(seq 1 150); do
    node_idle && break
    sleep 0.2
  done
  if ! node_idle; then
    say "error: the node did not come up within 30 s; logs in $dir/log"
    tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
    stop >/dev/null 2>&1 || true
    exit 3
  fi
  say "up: $host, $cpus CPUs, controller on 127.0.0.1:$port"
  echo "export SLURM_CONF=$conf"
}

stop_pid() {
  local file="$1" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

stop() {
  [ -d "$dir" ] || { say "not running"; return 0; }
  # Jobs first, so their steps end with the node daemon rather than linger.
  if alive "$dir/slurmctld.pid"; then SLURM_CONF="$conf" timeout 10 scancel --user="$(id -un)" 2>/dev/null || true; fi
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munged.pid"
  rm -rf "$dir"
  say "stopped"
}

status() {
  if node_idle && alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid"; then
    echo "running: SLURM_CONF=$conf"
    SLURM_CONF="$conf" sinfo
  else
    echo "not running"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  run)
    shift
    [ $# -gt 0 ] || { say "usage: $0 run COMMAND…"; exit 2; }
    already=0
    status >/dev/null 2>&1 && already=1
    start >/dev/null
    # A cluster this command started is stopped however the command ends.
    if [ "$already" -eq 0 ]; then
      trap stop EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
    fi
    export SLURM_CONF="$conf"
    "$@"
    ;;
  *) echo "usage: $0 start|stop|status|run COMMAND…" >&2; exit 2 ;;
esac
