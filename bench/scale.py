"""Issue #12 benchmark: Cloud Map cost with many services, across a slow network.

20 services × 60 registrations (SERVICES, PER_SERVICE) on moto, every worker request delayed 20 ms
(DELAY_MS) by scripts/aws_proxy.py in front of it (the fixture is seeded and checked on moto directly).
After the worker's start-up reconcile:
1. Single events: SINGLE terminations, one at a time, each in the next service: PutEvents its
   state-change, time until GetInstance says the registration is gone; the proxy's calls per event.
2. Burst: BURST terminations (spread over every service) put at once; time until all are gone, and the
   listings (ListInstances) per event.
Peak RSS of the worker. A second binary (BASE_BIN, e.g. the build before the index) runs the same
fixture shape in the same run for comparison.

3. Reconcile (PARTS=reconcile): `--single-run` over 1 service × 300 registrations with 60 terminated
   (RECONCILE_N, RECONCILE_DEAD), every request delayed DELAY_MS, cloud-unmap and aws-cloud-unmap 2.0.0
   alternated (ROUNDS), fixture restored before each run and checked after; then cloud-unmap without delay,
   beside moto's busy time for the calls it made (the proxy's: the time during which moto had at least
   one request to answer, the floor under the wall time).

4. Growth (PARTS=growth, bench/scale_growth.py): one reconcile of 20 services over 2 regions at 1×, 2×, 4×
   GROWTH_BASE (62) registrations per service (4× = 4,960, the issue's 20 × 250), beside the seed.

    BENCH_BIN=target/release/cloud-unmap .venv/bin/python -m bench.scale     (PARTS=events,reconcile,growth)
"""

import json
import os
import subprocess
import time

from bench.common import (
    BIN,
    ROOT,
    SEED_BIN,
    VENV_PY,
    CountingProxy,
    Moto,
    aws_env,
    free_port,
    machine,
    percentile,
    proc_status,
    wait_ready,
    write_result,
)
from bench.events import clients, queue, route, seed, state_change, wait_deregistered

SERVICES = int(os.environ.get("SERVICES", "20"))
PER_SERVICE = int(os.environ.get("PER_SERVICE", "60"))
DELAY_MS = int(os.environ.get("DELAY_MS", "20"))
SINGLE = int(os.environ.get("SINGLE", "30"))
BURST = int(os.environ.get("BURST", "100"))
PARTS = os.environ.get("PARTS", "events,reconcile,growth").split(",")
GROWTH_BASE = int(os.environ.get("GROWTH_BASE", "62"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
RECONCILE_N = int(os.environ.get("RECONCILE_N", "300"))
RECONCILE_DEAD = int(os.environ.get("RECONCILE_DEAD", "60"))
FIXTURE = os.path.join(ROOT, "scripts", "fixture.py")


def fixture(*args):
    return subprocess.run([VENV_PY, FIXTURE, *args], check=True, capture_output=True, text=True).stdout


def reconcile(binary):
    """--single-run of both tools through the delaying proxy, then cloud-unmap against moto's floor."""
    moto = Moto()
    proxy = CountingProxy(moto.port)
    try:
        state = json.loads(fixture("seed", "--endpoint", moto.endpoint, "--instances", str(RECONCILE_N)))
        service = state["service"]
        step = RECONCILE_N // RECONCILE_DEAD
        dead = [i["id"] for i in state["instances"][::step]][:RECONCILE_DEAD]
        fixture("terminate", "--endpoint", moto.endpoint, "--ids", *dead)
        state_file = os.path.join(ROOT, "bench", "out", "scale-state.json")
        os.makedirs(os.path.dirname(state_file), exist_ok=True)
        json.dump(state, open(state_file, "w"))
        expected = sorted(set(i["id"] for i in state["instances"]) - set(dead))
        common = ["--service-id", service, "--service-region", "us-east-1", "--instances-region", "us-east-1"]
        extra = os.environ.get("CU_ARGS", "").split()  # e.g. CU_ARGS="--concurrency 16", for tuning
        tools = {
            "cloud-unmap": [binary, *common, "--log-format", "json", *extra],
            "aws-cloud-unmap": [SEED_BIN, *common],
        }

        def run(tool):
            fixture("register", "--endpoint", moto.endpoint, "--service", service, "--state", state_file)
            before, up = proxy.counts, proxy.control("state")["upstream_s"]
            t0 = time.perf_counter()
            p = subprocess.run(tools[tool] + ["--single-run"], env=aws_env(proxy.endpoint), capture_output=True)
            wall = time.perf_counter() - t0
            left = fixture("registered", "--endpoint", moto.endpoint, "--service", service).split()
            if left != expected:
                raise SystemExit(f"{tool} left {len(left)} registrations, expected {len(expected)}")
            calls = proxy.counts - before
            return wall, p.returncode, dict(sorted(calls.items())), proxy.control("state")["upstream_s"] - up

        proxy.control(f"slow/{DELAY_MS}")
        times = {t: [] for t in tools}
        calls = {}
        for r in range(ROUNDS):
            for tool in list(tools) if r % 2 == 0 else list(tools)[::-1]:
                wall, code, calls[tool], _ = run(tool)
                times[tool].append(wall)
        proxy.control("slow/0")
        plain = [run("cloud-unmap") for _ in range(ROUNDS)]
        med = {t: sorted(v)[len(v) // 2] for t, v in times.items()}
        walls = sorted(p[0] for p in plain)
        served = sorted(p[3] for p in plain)
        return {
            "fixture": f"1 service x {RECONCILE_N} registrations, {RECONCILE_DEAD} terminated",
            "delayed_single_run_seconds": {
                t: {"median": round(med[t], 3), "runs": [round(x, 3) for x in v]} for t, v in times.items()
            },
            "ratio": round(med["cloud-unmap"] / med["aws-cloud-unmap"], 3),
            "calls": calls,
            "plain_moto_single_run_seconds": round(walls[len(walls) // 2], 3),
            "moto_busy_seconds": round(served[len(served) // 2], 3),
            "plain_over_service": round(walls[len(walls) // 2] / served[len(served) // 2], 2),
        }
    finally:
        proxy.close()
        moto.close()


def events(binary, label):
    moto = Moto()
    proxy = CountingProxy(moto.port)
    try:
        c = clients(moto.endpoint)
        fixture = [seed(moto.endpoint, PER_SERVICE, f"scale-{k}") for k in range(SERVICES)]
        url, arn = queue(c, "scale")
        route(c, arn, "scale")
        proxy.control(f"slow/{DELAY_MS}")
        port = free_port()
        args = [binary, "--service-region", "us-east-1", "--instances-region", "us-east-1"]
        for st in fixture:
            args += ["--service-id", st["service"]]
        args += ["--frequency", "3600", "--queue-url", url, "--prometheus-host", "127.0.0.1"]
        args += ["--prometheus-port", str(port), "--log-format", "json"]
        w = subprocess.Popen(args, env=aws_env(proxy.endpoint), stdout=subprocess.DEVNULL)
        wait_ready(port, limit=120)
        time.sleep(1)  # the start-up reconcile's last confirmations
        samples, lists, revisions = [], [], []
        for k in range(SINGLE):
            st = fixture[k % SERVICES]
            inst = st["instances"][k // SERVICES]
            c["ec2"].terminate_instances(InstanceIds=[inst["id"]])
            before = proxy.counts
            t0 = time.perf_counter()
            c["events"].put_events(Entries=[state_change(inst["id"])])
            wait_deregistered(c, st["service"], inst["id"], t0, 60, what=f"{label}: {inst['id']} never deregistered")
            samples.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.3)  # the batch's message deletion and its last calls
            after = proxy.counts
            lists.append(after["ListInstances"] - before["ListInstances"])
            revisions.append(after["DiscoverInstancesRevision"] - before["DiscoverInstancesRevision"])
        # Burst: the next instances of every service, all put at once.
        victims = []
        k = SINGLE
        while len(victims) < BURST:
            st = fixture[k % SERVICES]
            victims.append((st["service"], st["instances"][k // SERVICES]["id"]))
            k += 1
        ids = [i for _, i in victims]
        for j in range(0, len(ids), 500):
            c["ec2"].terminate_instances(InstanceIds=ids[j : j + 500])
        before = proxy.counts
        t0 = time.perf_counter()
        for j in range(0, len(ids), 10):
            c["events"].put_events(Entries=[state_change(i) for i in ids[j : j + 10]])
        for svc, i in victims:
            wait_deregistered(c, svc, i, t0, 300, poll=0.01, what=f"{label}: burst never drained")
        burst_s = time.perf_counter() - t0
        time.sleep(0.5)
        after = proxy.counts
        rss = proc_status(w.pid, "VmHWM")
        w.terminate()
        w.wait(timeout=60)
        return {
            "binary": label,
            "single": {
                "events": len(samples),
                "p50_ms": round(percentile(samples, 50), 1),
                "p99_ms": round(percentile(samples, 99), 1),
                "list_instances_per_event": round(sum(lists) / len(lists), 2),
                "list_instances_max": max(lists),
                "revisions_per_event": round(sum(revisions) / len(revisions), 2),
            },
            "burst": {
                "events": BURST,
                "seconds": round(burst_s, 2),
                "list_instances_per_event": round((after["ListInstances"] - before["ListInstances"]) / BURST, 2),
                "revisions_per_event": round(
                    (after["DiscoverInstancesRevision"] - before["DiscoverInstancesRevision"]) / BURST, 2
                ),
            },
            "peak_rss_mib": round(rss / 1024, 1) if rss else None,
        }
    finally:
        proxy.close()
        moto.close()


def main():
    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "delay_ms": DELAY_MS}
    if "events" in PARTS:
        result["events_fixture"] = f"{SERVICES} services x {PER_SERVICE} registrations"
        result["events"] = [events(BIN, "cloud-unmap")]
        base = os.environ.get("BASE_BIN")
        if base:
            result["events"].append(events(base, "base"))
    if "reconcile" in PARTS:
        result["reconcile"] = reconcile(BIN)
    if "growth" in PARTS:
        from bench.scale_growth import growth

        result["growth"] = growth(BIN, GROWTH_BASE, SERVICES, DELAY_MS)
    print(json.dumps(result, indent=2))
    write_result("scale", result)


if __name__ == "__main__":
    main()
