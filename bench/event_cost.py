"""Issue #23 (items 3 and 4) benchmark: the event path's Cloud Map cost and latency, on moto behind
scripts/aws_proxy.py (which counts every request, by operation and by second).

1. Burst cost (SIZES, default 100 and 1000 services x PER_SERVICE registrations, one namespace):
   after the start-up reconcile, BURST terminations in BURST different services put at once (ten per
   PutEvents); until every one is gone and the queue is empty. Cloud Map reads per event, by
   operation, and the highest DiscoverInstancesRevision count in one wall-clock second at the proxy.
2. Latency (LAT_SERVICES services, every request delayed DELAY_MS): LAT_EVENTS terminations, each in
   the next service, put SPACING_MS apart ("back to back", 50 ms) and one at a time 1 s apart ("spaced
   out"); from each PutEvents to GetInstance saying the registration is gone. p50 / p99.

    .venv/bin/python -m bench.event_cost          (BENCH_BIN=... for another build; PARTS=burst,latency)
"""

import json
import os
import subprocess
import threading
import time
import uuid

import boto3

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
from bench.events import clients, depth, queue, registered, route, state_change

SIZES = [int(n) for n in os.environ.get("SIZES", "100,1000").split(",")]
PER_SERVICE = int(os.environ.get("PER_SERVICE", "3"))
BURST = int(os.environ.get("BURST", "60"))
LAT_SERVICES = int(os.environ.get("LAT_SERVICES", "20"))
LAT_EVENTS = int(os.environ.get("LAT_EVENTS", "30"))
DELAY_MS = int(os.environ.get("DELAY_MS", "20"))
PARTS = os.environ.get("PARTS", "burst,latency").split(",")
# What the event path reads from Cloud Map (everything but Register/DeregisterInstance).
READS = [
    "DiscoverInstancesRevision",
    "ListInstances",
    "GetInstance",
    "GetOperation",
    "GetService",
    "GetNamespace",
    "ListServices",
    "ListTagsForResource",
]


def fixture(endpoint, services, per):
    """One HTTP namespace, `services` services, `per` running instances registered in each."""
    kw = dict(
        endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    sd, ec2 = boto3.client("servicediscovery", **kw), boto3.client("ec2", **kw)
    op = sd.create_http_namespace(Name=f"cost-{uuid.uuid4().hex[:8]}")["OperationId"]
    ns = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    instances, left = [], services * per
    while left > 0:
        n = min(left, 500)
        out = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=n, MaxCount=n)
        instances += [(i["InstanceId"], i["PrivateIpAddress"]) for i in out["Instances"]]
        left -= n
    out = []
    for k in range(services):
        svc = sd.create_service(Name=f"s{k}", NamespaceId=ns)["Service"]["Id"]
        mine = instances[k * per : (k + 1) * per]
        for iid, ip in mine:
            sd.register_instance(ServiceId=svc, InstanceId=iid, Attributes={"AWS_INSTANCE_IPV4": ip})
        out.append((svc, [i for i, _ in mine]))
    return ns, out


def start(ns, proxy, url, extra=()):
    port = free_port()
    args = [
        BIN,
        "--namespace-id",
        ns,
        "--service-region",
        "us-east-1",
        "--instances-region",
        "us-east-1",
        "--frequency",
        "3600",
        "--queue-url",
        url,
        "--prometheus-host",
        "127.0.0.1",
        "--prometheus-port",
        str(port),
        "--log-format",
        "json",
        *extra,
        *os.environ.get("CU_ARGS", "").split(),  # e.g. CU_ARGS="--revision-sweep-size 20", for tuning
    ]
    w = subprocess.Popen(args, env=aws_env(proxy.endpoint), stdout=subprocess.DEVNULL)
    wait_ready(port, limit=900)
    time.sleep(1)  # the start-up reconcile's last confirmations
    return w


def put(c, ids):
    for j in range(0, len(ids), 10):
        c["events"].put_events(Entries=[state_change(i) for i in ids[j : j + 10]])


def burst(services):
    moto = Moto()
    proxy = CountingProxy(moto.port)
    try:
        c = clients(moto.endpoint)
        t0 = time.perf_counter()
        ns, fx = fixture(moto.endpoint, services, PER_SERVICE)
        seeded = time.perf_counter() - t0
        url, arn = queue(c, f"cost{services}")
        route(c, arn, f"cost{services}")
        w = start(ns, proxy, url)
        victims = [(svc, ids[0]) for svc, ids in fx[:BURST]]
        ids = [i for _, i in victims]
        c["ec2"].terminate_instances(InstanceIds=ids)
        before = proxy.counts
        began = int(time.time())
        t0 = time.perf_counter()
        put(c, ids)
        pending = list(victims)
        while pending:
            if time.perf_counter() - t0 > 600:
                raise SystemExit("burst never drained")
            pending = [(s, i) for s, i in pending if registered(c, s, i)]
            time.sleep(0.02)
        gone_s = time.perf_counter() - t0
        while depth(c, url) > 0:
            if time.perf_counter() - t0 > 600:
                raise SystemExit("queue never emptied")
            time.sleep(0.1)
        drained_s = time.perf_counter() - t0
        time.sleep(1.5)
        ended = int(time.time())
        calls = proxy.counts - before
        per_second = proxy.control("state")["per_second"].get("DiscoverInstancesRevision", {})
        window = [per_second.get(str(t), 0) for t in range(began, ended + 1)]
        rss = proc_status(w.pid, "VmHWM")
        w.terminate()
        w.wait(timeout=60)
        reads = {op: calls[op] for op in READS if calls[op]}
        return {
            "services": services,
            "registrations": services * PER_SERVICE,
            "fixture_seed_s": round(seeded, 1),
            "events": BURST,
            "all_gone_s": round(gone_s, 2),
            "queue_empty_s": round(drained_s, 2),
            "cloud_map_reads_per_event": round(sum(reads.values()) / BURST, 2),
            "reads_per_event_by_operation": {op: round(n / BURST, 2) for op, n in reads.items()},
            "revision_reads_max_per_second": max(window or [0]),
            "revision_reads_by_second": window,
            "deregistrations": calls["DeregisterInstance"],
            "peak_rss_mib": round(rss / 1024, 1) if rss else None,
        }
    finally:
        proxy.close()
        moto.close()


def watch(c, pending, gone, stop):
    """Records when each (service, id, put time) stops being registered: one pass over the pending
    ones every 10 ms (a harness polling moto harder slows what it measures)."""
    while not stop.is_set():
        for item in list(pending):
            svc, iid, t0 = item
            if not registered(c, svc, iid):
                gone.append((time.perf_counter() - t0) * 1000)
                pending.remove(item)
        time.sleep(0.01)


def latency():
    moto = Moto()
    proxy = CountingProxy(moto.port)
    try:
        c = clients(moto.endpoint)
        ns, fx = fixture(moto.endpoint, LAT_SERVICES, 4 * 2)
        url, arn = queue(c, "lat")
        route(c, arn, "lat")
        proxy.control(f"slow/{DELAY_MS}")
        w = start(ns, proxy, url)
        out = {}
        k = 0
        for mode, gap in (("back_to_back", 0.05), ("spaced_out", 1.0)):
            pending, gone, stop = [], [], threading.Event()
            before = proxy.counts
            t = threading.Thread(target=watch, args=(c, pending, gone, stop))
            t.start()
            for _ in range(LAT_EVENTS):
                svc, ids = fx[k % LAT_SERVICES]
                iid = ids[k // LAT_SERVICES]
                k += 1
                c["ec2"].terminate_instances(InstanceIds=[iid])
                pending.append((svc, iid, time.perf_counter()))
                c["events"].put_events(Entries=[state_change(iid)])
                time.sleep(gap)
            deadline = time.perf_counter() + 120
            while pending and time.perf_counter() < deadline:
                time.sleep(0.05)
            stop.set()
            t.join()
            if pending:
                raise SystemExit(f"{mode}: {len(pending)} never deregistered")
            calls = proxy.counts - before
            out[mode] = {
                "calls_per_event": {op: round(n / LAT_EVENTS, 2) for op, n in sorted(calls.items())},
                "events": len(gone),
                "p50_ms": round(percentile(gone, 50), 1),
                "p99_ms": round(percentile(gone, 99), 1),
                "max_ms": round(max(gone), 1),
            }
            time.sleep(2)
        w.terminate()
        w.wait(timeout=60)
        return {"services": LAT_SERVICES, "delay_ms": DELAY_MS, **out}
    finally:
        proxy.close()
        moto.close()


def main():
    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "binary": BIN}
    if "burst" in PARTS:
        result["burst"] = [burst(n) for n in SIZES]
    if "latency" in PARTS:
        result["latency"] = latency()
    print(json.dumps(result, indent=2))
    write_result("event_cost", result)


if __name__ == "__main__":
    main()
