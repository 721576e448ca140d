"""Issue #12 benchmark: the event path's Cloud Map cost with many services, across a slow network.

20 services × 60 registrations (SERVICES, PER_SERVICE) on moto, every worker request delayed 20 ms
(DELAY_MS) by scripts/aws_proxy.py in front of it (the fixture is seeded and checked on moto directly).
After the worker's start-up reconcile:
1. Single events: SINGLE terminations, one at a time, each in the next service: PutEvents its
   state-change, time until GetInstance says the registration is gone; the proxy's calls per event.
2. Burst: BURST terminations (spread over every service) put at once; time until all are gone, and the
   listings (ListInstances) per event.
Peak RSS of the worker. A second binary (BASE_BIN, e.g. the build before the index) runs the same
fixture shape in the same run for comparison.

    BENCH_BIN=target/release/cloud-unmap .venv/bin/python -m bench.scale
"""

import json
import os
import subprocess
import time

from bench.common import (
    BIN,
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
from bench.events import clients, queue, registered, route, seed, state_change

SERVICES = int(os.environ.get("SERVICES", "20"))
PER_SERVICE = int(os.environ.get("PER_SERVICE", "60"))
DELAY_MS = int(os.environ.get("DELAY_MS", "20"))
SINGLE = int(os.environ.get("SINGLE", "30"))
BURST = int(os.environ.get("BURST", "100"))


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
            while registered(c, st["service"], inst["id"]):
                if time.perf_counter() - t0 > 60:
                    raise SystemExit(f"{label}: {inst['id']} never deregistered")
                time.sleep(0.002)
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
            while registered(c, svc, i):
                if time.perf_counter() - t0 > 300:
                    raise SystemExit(f"{label}: burst never drained")
                time.sleep(0.01)
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
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "fixture": f"{SERVICES} services x {PER_SERVICE} registrations, {DELAY_MS} ms added per request",
        "runs": [events(BIN, "cloud-unmap")],
    }
    base = os.environ.get("BASE_BIN")
    if base:
        result["runs"].append(events(base, "base"))
    print(json.dumps(result, indent=2))
    write_result("scale", result)


if __name__ == "__main__":
    main()
