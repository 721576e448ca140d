"""Issue #12, part 3: what N replicas on one queue cost per reconcile cycle, with and without a state table.

SERVICES × PER_SERVICE registrations on moto behind the counting proxy (every request delayed DELAY_MS).
REPLICAS workers start together on one queue:
- without --state-table: each runs its own start-up cycle (and its own timer after);
- with --state-table: one start-up cycle between them (the lease), then one cycle per reconcile message,
  put as the deployed schedule puts it; the calls of that cycle and its wall time (message sent → every
  replica's success timestamp moved) are measured.
Calls by operation for each cycle; the proxy's counts are the truth.

    BENCH_BIN=target/release/cloud-unmap .venv/bin/python -m bench.scale_replicas     (or PARTS=replicas in scale)
"""

import json
import os
import subprocess
import time
import urllib.request

from bench.common import BIN, CountingProxy, Moto, aws_env, free_port, machine, wait_ready, write_result
from bench.events import clients, queue, seed

SERVICES = int(os.environ.get("SERVICES", "20"))
PER_SERVICE = int(os.environ.get("PER_SERVICE", "60"))
DELAY_MS = int(os.environ.get("DELAY_MS", "20"))
REPLICAS = int(os.environ.get("REPLICAS", "3"))
CYCLE_OPS = ("ListInstances", "DescribeInstances", "DescribeInstanceStatus", "UpdateItem", "Scan")


def metric(port, prefix):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        lines = r.read().decode().splitlines()
    return [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix)]


def table(endpoint):
    import boto3

    ddb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"cloud-unmap-state-{int(time.time() * 1000)}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def fleet(binary, proxy, services, url, extra):
    ports, procs = [], []
    for _ in range(REPLICAS):
        port = free_port()
        args = [binary, "--service-region", "us-east-1", "--instances-region", "us-east-1"]
        for s in services:
            args += ["--service-id", s]
        args += ["--frequency", "60", "--queue-url", url, "--prometheus-host", "127.0.0.1"]
        args += ["--prometheus-port", str(port), "--log-format", "json", *extra]
        procs.append(subprocess.Popen(args, env=aws_env(proxy.endpoint), stdout=subprocess.DEVNULL))
        ports.append(port)
    return ports, procs


def settle(proxy, quiet=1.5):
    """Waits until no cycle call passed the proxy for `quiet` seconds; returns the counts."""
    last, since = None, time.perf_counter()
    while True:
        now = {op: proxy.counts[op] for op in CYCLE_OPS if op != "Scan"}
        if now != last:
            last, since = now, time.perf_counter()
        elif time.perf_counter() - since > quiet:
            return proxy.counts
        time.sleep(0.1)


def replicas(binary=BIN):
    moto = Moto()
    proxy = CountingProxy(moto.port)
    out = {"fixture": f"{SERVICES} services x {PER_SERVICE} registrations", "replicas": REPLICAS}
    try:
        c = clients(moto.endpoint)
        services = [seed(moto.endpoint, PER_SERVICE, f"fleet-{k}")["service"] for k in range(SERVICES)]
        proxy.control(f"slow/{DELAY_MS}")
        for label, shared in (("own timers (no --state-table)", False), ("shared (--state-table)", True)):
            url, _ = queue(c, f"fleet-{int(shared)}")
            extra = ["--state-table", table(moto.endpoint)] if shared else []
            before = proxy.counts
            ports, procs = fleet(binary, proxy, services, url, extra)
            try:
                for p in ports:
                    wait_ready(p, limit=180)
                start = settle(proxy)
                row = {"start_cycles_calls": {op: start[op] - before[op] for op in CYCLE_OPS}}
                if shared:
                    sent = time.time()
                    before = proxy.counts
                    c["sqs"].send_message(QueueUrl=url, MessageBody='{"cloud-unmap":"reconcile","every":60}')
                    prefix = "aws_cloud_unmap_last_reconcile_success_timestamp_seconds"
                    first = None
                    while not all(min(metric(p, prefix)) >= int(sent) for p in ports):
                        if first is None and any(min(metric(p, prefix)) >= int(sent) for p in ports):
                            first = round(time.time() - sent, 2)
                        if time.time() - sent > 120:
                            raise SystemExit("the shared cycle never reached every replica")
                        time.sleep(0.05)
                    # The replica that ran the cycle knows at once; the others at their next read of the
                    # table (every --frequency/2, 5 s to 60 s: 30 s here).
                    row["message_to_cycle_done_s"] = first
                    row["message_to_every_replica_s"] = round(time.time() - sent, 2)
                    after = settle(proxy)
                    row["scheduled_cycle_calls"] = {op: after[op] - before[op] for op in CYCLE_OPS}
                out[label] = row
            finally:
                for w in procs:
                    w.terminate()
                for w in procs:
                    w.wait(timeout=60)
        return out
    finally:
        proxy.close()
        moto.close()


if __name__ == "__main__":
    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "delay_ms": DELAY_MS, **replicas()}
    print(json.dumps(result, indent=2))
    write_result("scale-replicas", result)
