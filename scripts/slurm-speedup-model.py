#!/usr/bin/env python3
"""The speedup model of docs/cluster.md: projected wall time of a batch of independent stages on
N nodes, with the grouping SlurmExecutor chooses (Sources/ShrinkBuild/Slurm/SlurmGrouping.swift).

    T(N) = min over g of  ceil(ceil(n / g) / (N * c)) * (o + g * t)

n stages of t seconds each, c job slots (cores) per node, o seconds of overhead per job, at most
12 stages per job. Efficiency E(N) = T(1) / (N * T(N)).

    scripts/slurm-speedup-model.py [OVERHEAD_SECONDS]
"""
import math
import sys

CAP = 12


def best(n, t, o, slots):
    options = []
    for g in range(1, min(n, CAP) + 1):
        jobs = math.ceil(n / g)
        options.append((math.ceil(jobs / slots) * (o + g * t), -g))
    time, g = min(options)
    return time, -g


def table(title, n, t, o, c, nodes=(1, 4, 16, 64), rounds=1):
    print(f"{title}: {rounds} × {n} stages of {t:g} s, {c} cores per node, {o:g} s per job")
    t1 = None
    for N in nodes:
        time, g = best(n, t, o, N * c)
        time *= rounds
        t1 = t1 or time
        print(f"  {N:3d} nodes: {time:8.1f} s  ({g:2d} per job)  speedup {t1 / time:5.1f}  efficiency {t1 / (N * time):4.2f}")


o = float(sys.argv[1]) if len(sys.argv) > 1 else 0.8
# A 50-layer model's sensitivity sweep: every layer at 8 ranks, each evaluation 10 s (ResNet-sized
# model, a few thousand validation images), on 32-core nodes.
table("50-layer sweep", 400, 10.0, o, 32)
table("50-layer sweep, 60 s evaluations", 400, 60.0, o, 32)
# The bundled LeNet search, as measured through the dev cluster (docs/cluster.md): 196 stages in
# 26 submission rounds (the policy waits for each batch), ~1.1 s per stage on that loaded machine,
# 2-core nodes.
table("bundled search", 8, 1.1, o, 2, rounds=26)
