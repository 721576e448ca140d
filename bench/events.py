"""Issue #3 benchmark: event-to-deregistration latency and burst drain rate, on moto.

1. Latency: 100 terminations, one at a time: terminate the instance, PutEvents its state-change on
   the default bus (rules from event-rules.json route it to the queue), and time until Cloud Map's
   GetInstance says the registration is gone. p50 / p99 / max; and the worker's own
   cloud_unmap_dead_registration_age_seconds{trigger="event"} p50 / p99 from /metrics (EC2's end of the
   instance, at one-second resolution, to its removal).
2. Burst: 1,000 messages queued before the worker starts (100 terminations over 2 services, 900
   irrelevant events); time until the queue is empty and all 100 are deregistered. Beside it, in the
   same run and on the same moto, a bare boto3 receive→delete-batch loop draining 1,000 messages.

    bench/run.sh events
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3

from bench.common import (
    ROOT,
    VENV_PY,
    Moto,
    aws_env,
    free_port,
    machine,
    percentile,
    wait_ready,
    worker_args,
    write_result,
)

FIXTURE = os.path.join(ROOT, "scripts", "fixture.py")
EVENTS = int(os.environ.get("EVENTS", "100"))


def clients(endpoint):
    kw = dict(
        endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return {n: boto3.client(n, **kw) for n in ("sqs", "events", "servicediscovery", "ec2")}


def seed(endpoint, n, name):
    return json.loads(
        subprocess.run(
            [VENV_PY, FIXTURE, "seed", "--endpoint", endpoint, "--instances", str(n), "--service-name", name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )


def queue(c, name):
    dlq = c["sqs"].create_queue(QueueName=name + "-dlq")["QueueUrl"]
    dlq_arn = c["sqs"].get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = c["sqs"].create_queue(
        QueueName=name, Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})}
    )["QueueUrl"]
    arn = c["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def route(c, arn, prefix):
    rules = json.load(open(os.path.join(ROOT, "infra", "construct", "event-rules.json")))["rules"]
    for r in rules:
        c["events"].put_rule(Name=f"{prefix}-{r['name']}", EventPattern=json.dumps(r["pattern"]), State="ENABLED")
        c["events"].put_targets(Rule=f"{prefix}-{r['name']}", Targets=[{"Id": "q", "Arn": arn}])


def worker(endpoint, services, url, port):
    args = worker_args([], url, port, json_logs=True)
    for s in services:
        args += ["--service-id", s]
    return subprocess.Popen(args, env=aws_env(endpoint), stdout=subprocess.DEVNULL)


def registered(c, service, instance_id):
    try:
        c["servicediscovery"].get_instance(ServiceId=service, InstanceId=instance_id)
        return True
    except c["servicediscovery"].exceptions.InstanceNotFound:
        return False


def wait_deregistered(c, service, instance_id, t0, limit, poll=0.002, what=None):
    """Polls until the registration is gone; stops the harness `limit` s after `t0` (what it says)."""
    while registered(c, service, instance_id):
        if time.perf_counter() - t0 > limit:
            raise SystemExit(what or f"{instance_id} never deregistered")
        time.sleep(poll)


def state_change(instance_id, state="terminated"):
    return {
        "Source": "aws.ec2",
        "DetailType": "EC2 Instance State-change Notification",
        "Detail": json.dumps({"instance-id": instance_id, "state": state}),
    }


def histogram_quantile(port, name, labels, q):
    """Prometheus' histogram_quantile over the worker's /metrics: linear within the bucket."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    buckets = []
    for line in body.splitlines():
        if line.startswith(name + "_bucket{") and labels in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    rank, prev_le, prev_n = q * total, 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_n) / max(n - prev_n, 1e-9)
        prev_le, prev_n = le, n
    return prev_le


def latency(moto):
    c = clients(moto.endpoint)
    st = seed(moto.endpoint, EVENTS + 10, "latency")
    url, arn = queue(c, "latency")
    route(c, arn, "latency")
    port = free_port()
    w = worker(moto.endpoint, [st["service"]], url, port)
    wait_ready(port)
    samples = []
    try:
        for inst in st["instances"][:EVENTS]:
            c["ec2"].terminate_instances(InstanceIds=[inst["id"]])
            t0 = time.perf_counter()
            c["events"].put_events(Entries=[state_change(inst["id"])])
            wait_deregistered(c, st["service"], inst["id"], t0, 30)
            samples.append(time.perf_counter() - t0)
        # The metric of the purpose, as the worker itself measured it (EC2's end to the removal).
        age = "cloud_unmap_dead_registration_age_seconds"
        dead_age = {
            f"p{int(q * 100)}_s": round(histogram_quantile(port, age, 'trigger="event"', q) or 0, 2)
            for q in (0.5, 0.99)
        }
    finally:
        w.terminate()
        w.wait(timeout=30)
    ms = [s * 1000 for s in samples]
    return {
        "events": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(sum(ms) / len(ms), 1),
        "dead_registration_age": dead_age,
    }


def fill(c, url, bodies):
    for k in range(0, len(bodies), 10):
        c["sqs"].send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[k : k + 10])]
        )


def depth(c, url):
    a = c["sqs"].get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def envelope(detail_type, detail, source="aws.ec2"):
    return json.dumps(
        {
            "version": "0",
            "id": "x",
            "detail-type": detail_type,
            "source": source,
            "account": "123456789012",
            "time": "2024-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    )


def burst(moto):
    c = clients(moto.endpoint)
    services, dead = [], []
    for name in ("burst-a", "burst-b"):
        st = seed(moto.endpoint, 60, name)
        services.append(st["service"])
        dead += [i["id"] for i in st["instances"][:50]]
    c["ec2"].terminate_instances(InstanceIds=dead)
    live = st["instances"][-1]["id"]
    bodies = [
        envelope("EC2 Instance State-change Notification", {"instance-id": i, "state": "terminated"}) for i in dead
    ]
    bodies += [
        envelope("EC2 Instance State-change Notification", {"instance-id": live, "state": "running"})
        for _ in range(450)
    ]
    bodies += [envelope("EC2 Instance Rebalance Recommendation", {"instance-id": live}) for _ in range(450)]
    bodies.sort(key=lambda b: hash(b) % 97)

    # Bare loop: receive 10 → delete-batch, until empty.
    bare_url, _ = queue(c, "bare")
    fill(c, bare_url, bodies)
    t0 = time.perf_counter()
    n = 0
    while True:
        msgs = (
            c["sqs"].receive_message(QueueUrl=bare_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        )
        if not msgs:
            break
        c["sqs"].delete_message_batch(
            QueueUrl=bare_url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
        )
        n += len(msgs)
    bare = time.perf_counter() - t0

    url, _ = queue(c, "burst")
    fill(c, url, bodies)
    port = free_port()
    t0 = time.perf_counter()
    w = worker(moto.endpoint, services, url, port)
    try:
        while depth(c, url) > 0:
            if time.perf_counter() - t0 > 600:
                raise SystemExit("burst never drained")
            time.sleep(0.25)
        ours = time.perf_counter() - t0
    finally:
        w.terminate()
        w.wait(timeout=30)
    left = [i for i in dead if any(registered(c, s, i) for s in services)]
    if left:
        raise SystemExit(f"{len(left)} terminated instances still registered after the burst")
    return {
        "messages": len(bodies),
        "terminations": len(dead),
        "bare_loop_seconds": round(bare, 2),
        "bare_loop_msgs_per_s": round(n / bare, 1),
        "cloud_unmap_seconds": round(ours, 2),
        "cloud_unmap_msgs_per_s": round(len(bodies) / ours, 1),
        "ratio_of_bare_rate": round(bare / ours, 3),
    }


def main():
    moto = Moto()
    try:
        result = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
            "latency": latency(moto),
            "burst": burst(moto),
        }
    finally:
        moto.close()
    print(json.dumps(result, indent=2))
    write_result("events", result)


if __name__ == "__main__":
    sys.exit(main())
