"""Issue #6 fault scenario: a stream of 2,000 events (1,000 terminations over 3 services, 980
irrelevant, 20 unreadable) into the queue at ~20 msg/s, while the worker reaches AWS only through a
loopback proxy that faults 20 % of requests (dropped connections, delays, 500, 503, throttling in each
protocol's shape) and drops everything for 10 s in the middle. Checks: every termination processed,
no live instance removed, the queue empty, only the unreadable bodies in the DLQ, /readyz 503 during the
outage and 200 after, the process alive throughout; reports peak RSS.

    bench/run.sh faults
"""

import json
import os
import random
import subprocess
import time
import urllib.error
import urllib.request

import boto3

from bench.common import ROOT, VENV_PY, Moto, aws_env, free_port, machine, worker_args, write_result

RATE = float(os.environ.get("FAULT_RATE", "0.2"))
TERMINATIONS, IRRELEVANT, INVALID, LIVE_PER_SERVICE = 1000, 980, 20, 10


def http(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


def main():
    moto = Moto()
    proxy = subprocess.Popen(
        [VENV_PY, os.path.join(ROOT, "scripts", "aws_proxy.py"), str(moto.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    pport = int(proxy.stdout.readline())

    def ctl(what):
        return urllib.request.urlopen(f"http://127.0.0.1:{pport}/__proxy/{what}", timeout=5).read()

    kw = dict(
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sqs, sd, ec2 = (boto3.client(n, **kw) for n in ("sqs", "servicediscovery", "ec2"))
    op = sd.create_http_namespace(Name="faults")["OperationId"]
    ns = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    services = [sd.create_service(Name=f"s{k}", NamespaceId=ns)["Service"]["Id"] for k in range(3)]
    instances = []
    total = TERMINATIONS + 3 * LIVE_PER_SERVICE
    while len(instances) < total:
        n = min(500, total - len(instances))
        instances += [
            (i["InstanceId"], i["PrivateIpAddress"])
            for i in ec2.run_instances(ImageId="ami-12c6146b", MinCount=n, MaxCount=n)["Instances"]
        ]
    where = {}
    for k, (iid, ip) in enumerate(instances):
        svc = services[k % 3]
        where[iid] = svc
        sd.register_instance(ServiceId=svc, InstanceId=iid, Attributes={"AWS_INSTANCE_IPV4": ip})
    dead = [iid for iid, _ in instances[:TERMINATIONS]]
    live = [iid for iid, _ in instances[TERMINATIONS:]]
    # Instances are terminated in EC2 only as their events are streamed, after the worker's start-up
    # reconcile (and the reconcile period is an hour): only the event path can remove them.

    dlq = sqs.create_queue(QueueName="faults-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="faults",
        Attributes={
            "VisibilityTimeout": "10",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 10}),
        },
    )["QueueUrl"]

    def envelope(detail_type, detail):
        return json.dumps(
            {
                "version": "0",
                "id": "x",
                "detail-type": detail_type,
                "source": "aws.ec2",
                "time": "2024-01-01T00:00:00Z",
                "region": "us-east-1",
                "resources": [],
                "detail": detail,
            }
        )

    rnd = random.Random(5)
    bodies = [
        envelope("EC2 Instance State-change Notification", {"instance-id": i, "state": "terminated"}) for i in dead
    ]
    bodies += [
        envelope("EC2 Instance State-change Notification", {"instance-id": rnd.choice(live), "state": "running"})
        for _ in range(IRRELEVANT // 2)
    ]
    bodies += [
        envelope("EC2 Instance State-change Notification", {"instance-id": rnd.choice(live), "state": "terminated"})
        for _ in range(IRRELEVANT - IRRELEVANT // 2)
    ]  # forged: EC2 says running
    bodies += ["{not json " + str(k) for k in range(INVALID)]
    rnd.shuffle(bodies)
    dying = set(dead)

    port = free_port()
    args = worker_args(["--namespace-id", ns], url, port)
    w = subprocess.Popen(
        args, env=aws_env(f"http://127.0.0.1:{pport}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(200):
        if http(port, "/readyz") == 200:
            break
        time.sleep(0.1)
    ctl(f"faults/{RATE}")
    t0 = time.time()
    outage = (50, 60)
    ready_during, ready_after_first200, peak_rss, alive = [], None, 0.0, True
    sent = 0
    try:
        while sent < len(bodies):
            now = time.time() - t0
            if outage[0] <= now < outage[1]:
                ctl("outage/on")
            else:
                ctl("outage/off")
            chunk = bodies[sent : sent + 10]
            victims = [json.loads(b)["detail"]["instance-id"] for b in chunk if not b.startswith("{not")]
            victims = [v for v in victims if v in dying]
            if victims:
                ec2.terminate_instances(InstanceIds=victims)
            sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": b} for k, b in enumerate(chunk)]
            )
            sent += len(chunk)
            status = http(port, "/readyz")
            if outage[0] + 1 <= now < outage[1]:
                ready_during.append(status)
            peak_rss = max(
                peak_rss,
                next(int(line.split()[1]) for line in open(f"/proc/{w.pid}/status") if line.startswith("VmRSS:"))
                / 1024,
            )
            alive = alive and w.poll() is None
            time.sleep(0.5)
        ctl("outage/off")
        outage_end = t0 + outage[1]
        deadline = time.time() + 1800
        while time.time() < deadline:
            if ready_after_first200 is None and http(port, "/readyz") == 200:
                ready_after_first200 = round(time.time() - outage_end, 1)
            a = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            if int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]) == 0:
                break
            peak_rss = max(
                peak_rss,
                next(int(line.split()[1]) for line in open(f"/proc/{w.pid}/status") if line.startswith("VmRSS:"))
                / 1024,
            )
            alive = alive and w.poll() is None
            time.sleep(1)
        drained = round(time.time() - t0, 1)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        by_event = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("cloud_unmap_deregistrations_total{") and 'trigger="event"' in line
        )
        # A deregistration whose confirmation (GetOperation) was faulted is retried, finds the
        # registration gone and has nothing to count: the backstop's count is the telling one.
        by_reconcile = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("cloud_unmap_deregistrations_total{") and 'trigger="reconcile"' in line
        )
        ctl("faults/0")
        registered = {
            i["Id"]
            for s in services
            for p in sd.get_paginator("list_instances").paginate(ServiceId=s)
            for i in p["Instances"]
        }
        in_dlq = int(
            sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        faults = json.loads(ctl("state"))["faults"]
        alive = alive and w.poll() is None
    finally:
        w.terminate()
        w.wait(timeout=60)
        proxy.stdin.close()
        moto.close()
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "load": f"{len(bodies)} messages ({TERMINATIONS} terminations over 3 services, {IRRELEVANT} irrelevant or forged, {INVALID} unreadable) at ~20 msg/s",
        "faults": f"{int(RATE * 100)} % of the worker's AWS requests, plus a 10 s outage at t=50 s",
        "faults_injected": faults,
        "seconds_to_drain": drained,
        "terminations_still_registered": sum(1 for i in dead if i in registered),
        "deregistered_by_events": by_event,
        "deregistered_by_reconcile": by_reconcile,
        "live_instances_removed": sum(1 for i in live if i not in registered),
        "dlq_messages": in_dlq,
        "unreadable_sent": INVALID,
        "readyz_during_outage": sorted(set(map(str, ready_during))),
        "readyz_200_after_outage_s": ready_after_first200,
        "alive_throughout": alive,
        "exit_code_on_sigterm": w.returncode,
        "peak_rss_mib": round(peak_rss, 1),
    }
    result["pass"] = (
        result["terminations_still_registered"] == 0
        and by_reconcile == 0
        and result["live_instances_removed"] == 0
        and in_dlq == INVALID
        and "503" in result["readyz_during_outage"]
        and alive
        and w.returncode == 0
    )
    print(json.dumps(result, indent=2))
    write_result("faults", result)


if __name__ == "__main__":
    main()
