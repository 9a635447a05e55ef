#!/usr/bin/env bash
# Measures what one Slurm job costs beyond its work, on the cluster SLURM_CONF names (by default
# the dev cluster: `scripts/dev-slurm.sh run scripts/measure-slurm-overhead.sh`). docs/cluster.md
# quotes its output and derives the speedup model from it.
#
#   latency     one trivial job at a time: sbatch → the job has left the queue
#   throughput  N trivial jobs submitted at once, until all have left the queue, per job and CPU
#   array       the same N as one job array
set -euo pipefail
n="${1:-20}"
now() { date +%s.%N; }
drain() { while [ -n "$(squeue -h -u "$(id -un)" 2>/dev/null)" ]; do sleep 0.05; done; }
cpus=$(sinfo -h -o '%C' | awk -F/ '{ s += $4 } END { print s }')

drain
total=0
for _ in 1 2 3 4 5; do
  t0=$(now)
  id=$(sbatch --parsable -o /dev/null --wrap true)
  while squeue -h -j "$id" 2>/dev/null | grep -q .; do sleep 0.02; done
  total=$(echo "$total + $(now) - $t0" | bc -l)
done
latency=$(echo "$total / 5" | bc -l)

t0=$(now)
for _ in $(seq "$n"); do sbatch --parsable -o /dev/null --wrap true >/dev/null; done
drain
many=$(echo "$(now) - $t0" | bc -l)

t0=$(now)
sbatch --parsable -o /dev/null --array=1-"$n" --wrap true >/dev/null
drain
array=$(echo "$(now) - $t0" | bc -l)

printf 'cluster: %s CPUs; load: %s\n' "$cpus" "$(uptime | sed 's/.*load average: //')"
printf 'latency of one trivial job:       %.2f s\n' "$latency"
printf '%d trivial jobs at once:           %.2f s (%.2f s per job per CPU)\n' "$n" "$many" "$(echo "$many * $cpus / $n" | bc -l)"
printf 'one array of %d trivial tasks:     %.2f s (%.2f s per task per CPU)\n' "$n" "$array" "$(echo "$array * $cpus / $n" | bc -l)"
