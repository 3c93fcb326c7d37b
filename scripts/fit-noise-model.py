#!/usr/bin/env python3
"""Fits the gate's noise model (NoiseModel in Sources/PodBenchReport/GateSimulator.swift) to real
runs of one binary: the results files of an A/A `podbench ab` (every round-*/ folder below DIR),
or any folder of results files of the same matrix.

    scripts/fit-noise-model.py DIR "what, where, when" ROUND_SECONDS > Tests/PodBenchReportTests/Fixtures/noise-model.json

ROUND_SECONDS is the median time of one ab round as its progress lines print it; the time of a run
besides its cases (process start, environment, results file) is worked out from it.

Per case and metric, in logarithms (robust estimates, so that slow spells do not inflate them):
- trial sigma: the spread of trials within a run, from the median absolute difference of every pair
  of trials of one run (for normal noise, MAD(x - y) = 0.6745 * sqrt(2) * sigma);
- run sigma: the spread of the runs' medians (1.4826 * MAD), less what the trial noise explains
  (the median of k normal trials has a variance of about 1.57 sigma^2 / k, 0.449 sigma^2 for k = 3);
  the case's primary metric (p50, or msg/s for a stream) gives the shared run shift, each other
  metric the part of its own run spread beyond it;
- slow spells: a trial more than 1.5x slower (primary metric) than its case's median over all runs
  is in a spell; the share of such trials is the time share, the mean length of their streaks in
  the order the runs ran (times the spacing of trials) the spell length, the 99th percentile of
  their slowdowns (at most 3) the slowest factor.
"""
import json
import math
import os
import statistics
import sys

METRICS = ["p50", "p99", "p99.9", "msg/s", "bytes/s", "cpu/msg client", "cpu/msg server"]
HIGHER_IS_WORSE = {m: m not in ("msg/s", "bytes/s") for m in METRICS}


def values(trial):
    out = {}
    s = trial.get("latencySummary")
    if s:
        out["p50"], out["p99"], out["p99.9"] = s["p50"], s["p99"], s["p999"]
    for name, key in (("msg/s", "messagesPerSecond"), ("bytes/s", "bytesPerSecond")):
        if trial.get(key) is not None:
            out[name] = trial[key]
    for name, side in (("cpu/msg client", "client"), ("cpu/msg server", "server")):
        v = (trial.get(side) or {}).get("cpuNanosecondsPerMessage")
        if v is not None:
            out[name] = v
    return {k: math.log(v) for k, v in out.items() if v and v > 0}


def mad(xs):
    m = statistics.median(xs)
    return statistics.median(abs(x - m) for x in xs)


def name(key):
    size = key["messageSize"]
    text = f"{size // 1048576}MiB" if size % 1048576 == 0 else f"{size // 1024}KiB" if size % 1024 == 0 else str(size)
    return f"{key['transport']} {key['workload']} {text}"


def main():
    root, source, round_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    files = []
    for dirpath, _, names in os.walk(root):
        files += [os.path.join(dirpath, n) for n in names if n.endswith(".json")]
    runs = [json.load(open(f)) for f in files]
    runs.sort(key=lambda r: r["startedAt"])
    order, per_case, timeline = [], {}, []
    durations = []
    for run in runs:
        settings = run["settings"]
        busy = 0.0
        for c in run["cases"]:
            if c["status"] != "ok":
                continue
            n = name(c["key"])
            if n not in per_case:
                order.append(n)
                per_case[n] = []
            trials = [values(t) for t in c["trials"]]
            per_case[n].append(trials)
            timeline.append((n, trials))
            busy += settings["warmupSeconds"] + settings["trials"] * settings["trialSeconds"]
        durations.append((run["startedAt"], run["finishedAt"], busy, len(run["cases"])))
    # Wall time besides warm-up and trials, split as a per-run and a per-case part (least squares
    # would need varied case counts; the matrix is fixed, so it is all put on the cases).
    from datetime import datetime

    def seconds(a, b):
        f = "%Y-%m-%dT%H:%M:%SZ" if "." not in a else "%Y-%m-%dT%H:%M:%S.%fZ"
        return (datetime.strptime(b, f) - datetime.strptime(a, f)).total_seconds()

    setup = statistics.median((seconds(a, b) - busy) / n for a, b, busy, n in durations)
    primary_of = {}
    cases = []
    for n in order:
        runs_of = per_case[n]
        metrics = [m for m in METRICS if all(m in t for trials in runs_of for t in trials)]
        primary = "p50" if "p50" in metrics else "msg/s"
        primary_of[n] = primary
        trial_sigma, run_sigma = {}, {}
        for m in metrics:
            diffs = []
            medians = []
            for trials in runs_of:
                xs = [t[m] for t in trials]
                diffs += [abs(xs[i] - xs[j]) for i in range(len(xs)) for j in range(i + 1, len(xs))]
                medians.append(statistics.median(xs))
            k = len(runs_of[0])
            sigma_t = statistics.median(diffs) / (0.6745 * math.sqrt(2)) if diffs else 0.0
            between = 1.4826 * mad(medians)
            explained = (0.449 if k == 3 else 1.571 / k if k > 1 else 1.0) * sigma_t**2
            trial_sigma[m] = round(sigma_t, 4)
            run_sigma[m] = math.sqrt(max(0.0, between**2 - explained))
        shared = run_sigma[primary]
        own = {m: round(math.sqrt(max(0.0, r**2 - shared**2)), 4) for m, r in run_sigma.items() if r > shared}
        cases.append(
            {
                "name": n,
                "setupSeconds": round(setup, 3),
                "runSigma": round(shared, 4),
                "trialSigma": trial_sigma,
                "ownRunSigma": own,
            }
        )
    # Slow spells, from the primary metric of every trial in the order they ran.
    centre = {n: statistics.median(t[primary_of[n]] for trials in per_case[n] for t in trials) for n in order}
    slow, ratios, streaks, streak = [], [], [], 0
    for n, trials in timeline:
        for t in trials:
            worse = (t[primary_of[n]] - centre[n]) * (1 if HIGHER_IS_WORSE[primary_of[n]] else -1)
            is_slow = worse > math.log(1.5)
            slow.append(is_slow)
            if is_slow:
                ratios.append(math.exp(worse))
                streak += 1
            elif streak:
                streaks.append(streak)
                streak = 0
    if streak:
        streaks.append(streak)
    settings = runs[0]["settings"]
    case_wall = len(order) * (setup + settings["warmupSeconds"] + settings["trials"] * settings["trialSeconds"])
    spacing = setup / settings["trials"] + settings["trialSeconds"] + settings["warmupSeconds"] / settings["trials"]
    fraction = sum(slow) / len(slow)
    ratios.sort()
    model = {
        "source": source,
        "cases": cases,
        "runOverheadSeconds": round(max(0.0, round_seconds / 2 - case_wall), 3),
        "slowFraction": round(fraction, 4),
        "spellSeconds": round(max(1.0, statistics.mean(streaks) * spacing) if streaks else 1.0, 2),
        "slowestFactor": round(min(3.0, ratios[int(0.99 * (len(ratios) - 1))]) if ratios else 1.5, 2),
    }
    json.dump(model, sys.stdout, indent=2, sort_keys=True)
    print()
    print(
        f"{len(runs)} runs, {len(order)} cases, {len(slow)} trials, {sum(slow)} in slow spells, setup {setup:.3f} s/case",
        file=sys.stderr,
    )


main()
