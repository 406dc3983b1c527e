#!/usr/bin/env bash
# Single-node SLURM cluster on localhost for tomosnake's SLURM tests.
#
#   tests/slurm_cluster.sh start    install (if needed) and start munged, slurmctld, slurmd
#   tests/slurm_cluster.sh status   show daemons, partitions and the node; exit 1 if not up
#   tests/slurm_cluster.sh stop     stop the daemons (state dir is kept; add --purge to delete it)
#
# Every verb is idempotent: `start` on a running cluster returns in well under a second.
# Everything lives under $TOMOSNAKE_SLURM_STATE (default /tmp/tomosnake-slurm):
#   slurm.conf gres.conf munge.key munge/ (socket) ctld/ d/ (spool) run/ (pids) log/
#   jobcomp.log   <- SLURM's job-completion log (jobcomp/filetxt): one line per finished job with
#                    JobId, Partition, JobState, AllocTRES (cpu, mem, gres/gpu), ... The tests read
#                    this file to check where and with what the workflow's jobs ran.
#
# Cluster layout (one node, the local host, two partitions):
#   cpu  (default)  for CPU jobs
#   gpu             same node, which advertises one GPU generic resource of type "demo"
#                   (gres.conf points at /dev/null: it schedules, it does not compute)
#
# Why these settings (see also docs/cluster.md):
#   - no accounting database (slurmdbd + mariadb is too heavy for a test): sacct cannot answer,
#     so the Snakemake profile polls with `squeue --states=all`; MinJobAge=600 keeps finished
#     jobs visible to squeue/scontrol long enough for that.
#   - Snakemake's SLURM jobstep drops SLURM_CONF inside jobs, so the config must be readable at
#     /etc/slurm/slurm.conf: we symlink it there (and refuse to touch a foreign file).
#   - no cgroups in containers: proctrack/linuxproc, task/none.
#   - SlurmdTimeout=600: the sandbox clock may jump; a short timeout marks the node DOWN.
set -euo pipefail

STATE=${TOMOSNAKE_SLURM_STATE:-/tmp/tomosnake-slurm}
CTLD_PORT=${TOMOSNAKE_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${TOMOSNAKE_SLURM_SLURMD_PORT:-6818}
ETC_CONF=/etc/slurm/slurm.conf
NODE=$(hostname -s)
MARK="# tomosnake test cluster"

log() { echo "slurm_cluster: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

alive() {  # alive PIDFILE -> 0 if the process in PIDFILE runs
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
    local missing=()
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || die "need root to apt-get install ${missing[*]}"
    log "installing ${missing[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_config() {
    mkdir -p "$STATE"/{munge,ctld,d,run,log}
    chmod 700 "$STATE/munge"
    if [[ ! -s $STATE/munge.key ]]; then
        dd if=/dev/urandom of="$STATE/munge.key" bs=1024 count=1 status=none
    fi
    chmod 400 "$STATE/munge.key"
    local cpus mem_mb
    cpus=$(nproc)
    # leave 10 % of the memory for the daemons and the Snakemake process itself
    mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    cat >"$STATE/slurm.conf.new" <<EOF
$MARK (written by tests/slurm_cluster.sh; state in $STATE)
ClusterName=tomosnake
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket.2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
MinJobAge=600
SlurmdTimeout=600
SlurmctldTimeout=300
ReturnToService=2
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:demo:1 State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
EOF
    mv "$STATE/slurm.conf.new" "$STATE/slurm.conf"
    # a count-only gres line is dropped (node goes INVAL): point File= at a character device
    echo "NodeName=$NODE Name=gpu Type=demo File=/dev/null" >"$STATE/gres.conf"
    # slurmd reads gres.conf beside the slurm.conf it was started with, i.e. /etc/slurm
    link_etc "$STATE/gres.conf" /etc/slurm/gres.conf
    link_etc "$STATE/slurm.conf" "$ETC_CONF"
}

link_etc() {  # link_etc TARGET LINK: symlink, refusing to replace a file we did not write
    local target=$1 link=$2
    mkdir -p "$(dirname "$link")"
    if [[ -e $link && ! -L $link ]]; then
        die "$link exists and is not tomosnake's symlink; refusing to overwrite a real cluster's config"
    fi
    ln -sfn "$target" "$link"
}

start_munge() {
    alive "$STATE/run/munged.pid" && return 0
    munged --force --socket="$STATE/munge/munge.socket.2" --key-file="$STATE/munge.key" \
        --pid-file="$STATE/run/munged.pid" --log-file="$STATE/log/munged.log" \
        --seed-file="$STATE/munge/munged.seed"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out waiting for $what (logs in $STATE/log)"
        sleep 0.2
    done
}

node_state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1; }

node_usable() {
    case $(node_state) in
        idle* | mixed* | allocated* | completing*) return 0 ;;
        *) return 1 ;;
    esac
}

cmd_start() {
    install_packages
    if alive "$STATE/run/slurmctld.pid" && alive "$STATE/run/slurmd.pid" \
        && alive "$STATE/run/munged.pid" && node_usable; then
        return 0
    fi
    write_config
    start_munge
    wait_for 10 "munged" test -S "$STATE/munge/munge.socket.2"
    if ! alive "$STATE/run/slurmctld.pid"; then
        slurmctld -f "$ETC_CONF"
    fi
    wait_for 20 "slurmctld" scontrol ping
    if ! alive "$STATE/run/slurmd.pid"; then
        slurmd -f "$ETC_CONF"
    fi
    wait_for 20 "node $NODE to register" bash -c "sinfo -h -N -n $NODE -o %T | grep -qv -e unk -e '^$'"
    if ! node_usable; then  # e.g. DOWN after a clock jump or a previous unclean stop
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
    fi
    wait_for 30 "node $NODE to become idle" node_usable
    log "up: partitions $(sinfo -h -o '%P' | tr '\n' ' ')node $NODE $(node_state)"
}

stop_pid() {  # stop_pid NAME
    local pidfile=$STATE/run/$1.pid
    alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    local pid
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

cmd_stop() {
    if [[ -d $STATE ]]; then
        if alive "$STATE/run/slurmctld.pid"; then
            # cancel what is still queued/running so no orphan job steps outlive the cluster
            scancel --quiet --full --state=PENDING,RUNNING --user="$(id -un)" 2>/dev/null || true
        fi
        stop_pid slurmd
        stop_pid slurmctld
        stop_pid munged
    fi
    if [[ ${1:-} == --purge ]]; then
        for link in "$ETC_CONF" /etc/slurm/gres.conf; do
            [[ -L $link && $(readlink "$link") == "$STATE"/* ]] && rm -f "$link"
        done
        rm -rf "$STATE"
    fi
    log "stopped"
}

cmd_status() {
    local ok=0 name
    for name in munged slurmctld slurmd; do
        if alive "$STATE/run/$name.pid"; then
            echo "$name: running (pid $(cat "$STATE/run/$name.pid"))"
        else
            echo "$name: stopped"
            ok=1
        fi
    done
    if ((ok == 0)); then
        sinfo -o '%P %a %D %T %G %c %m' || ok=1
        node_usable || ok=1
    fi
    echo "state dir: $STATE"
    return $ok
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop "${2:-}" ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 start|stop [--purge]|status" >&2
        exit 2
        ;;
esac
