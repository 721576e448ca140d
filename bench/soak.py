"""Issue #6 soak: the worker (release build) against moto for SOAK_SECONDS (default 1800) with a
steady event stream and a reconcile every 10 s. Every 30 s it samples RSS, open file descriptors and
the worker's error counters. Pass: RSS and fds grow < 10 % from the first sample after warm-up to the
last, no error-rate drift between halves, every terminated instance deregistered, no live one removed.

    SOAK_SECONDS=1800 bench/run.sh soak
"""

import json
import os
import random
import re
import subprocess
import time
import urllib.request

import boto3

from bench.common import ROOT, Moto, aws_env, free_port, machine, worker_args, write_result

DURATION = int(os.environ.get("SOAK_SECONDS", "1800"))
SAMPLE = 30
WARMUP = min(120, DURATION // 6)
SERVICES, PER_SERVICE = 3, 20


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()

    def total(prefix):
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(prefix) and not line.startswith("#")
        )

    return {
        "aws_errors": total("cloud_unmap_aws_errors_total"),
        "receive_errors": total("cloud_unmap_receive_errors_total"),
        "events_acted": total('cloud_unmap_events_total{type="state_change",outcome="acted"}'),
        "events_failed": sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if re.match(r'cloud_unmap_events_total\{.*outcome="failed"', line)
        ),
        "reconcile_failures": total("cloud_unmap_reconciles_total{")
        - sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("cloud_unmap_reconciles_total{") and 'result="success"' in line
        ),
    }


def proc(pid):
    rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:")) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    moto = Moto()
    kw = dict(
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sqs, events, sd, ec2 = (boto3.client(n, **kw) for n in ("sqs", "events", "servicediscovery", "ec2"))
    op = sd.create_http_namespace(Name="soak")["OperationId"]
    ns = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    services = [sd.create_service(Name=f"s{k}", NamespaceId=ns)["Service"]["Id"] for k in range(SERVICES)]
    live = {}

    def launch(svc, n):
        for i in ec2.run_instances(ImageId="ami-12c6146b", MinCount=n, MaxCount=n)["Instances"]:
            sd.register_instance(
                ServiceId=svc, InstanceId=i["InstanceId"], Attributes={"AWS_INSTANCE_IPV4": i["PrivateIpAddress"]}
            )
            live[i["InstanceId"]] = svc

    for svc in services:
        launch(svc, PER_SERVICE)
    dlq = sqs.create_queue(QueueName="soak-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="soak",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for r in json.load(open(os.path.join(ROOT, "infra", "construct", "event-rules.json")))["rules"]:
        events.put_rule(Name=r["name"], EventPattern=json.dumps(r["pattern"]), State="ENABLED")
        events.put_targets(Rule=r["name"], Targets=[{"Id": "q", "Arn": arn}])

    port = free_port()
    args = worker_args(["--namespace-id", ns], url, port, frequency=10, json_logs=True)
    w = subprocess.Popen(args, env=aws_env(moto.endpoint), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples, terminated = [], []
    start = time.time()
    next_sample = start + WARMUP
    rnd = random.Random(7)
    try:
        while time.time() - start < DURATION:
            # One termination (with its event) and one replacement every ~5 s; irrelevant events in between.
            victim = rnd.choice(sorted(live))
            svc = live.pop(victim)
            ec2.terminate_instances(InstanceIds=[victim])
            events.put_events(
                Entries=[
                    {
                        "Source": "aws.ec2",
                        "DetailType": "EC2 Instance State-change Notification",
                        "Detail": json.dumps({"instance-id": victim, "state": "terminated"}),
                    }
                ]
            )
            terminated.append((victim, svc))
            launch(svc, 1)
            for _ in range(4):
                events.put_events(
                    Entries=[
                        {
                            "Source": "aws.ec2",
                            "DetailType": "EC2 Spot Instance Interruption Warning",
                            "Detail": json.dumps(
                                {"instance-id": rnd.choice(sorted(live)), "instance-action": "terminate"}
                            ),
                        }
                    ]
                )
                time.sleep(1)
            if time.time() >= next_sample:
                rss, fds = proc(w.pid)
                samples.append({"t": round(time.time() - start), "rss_mib": round(rss, 2), "fds": fds, **metrics(port)})
                print(json.dumps(samples[-1]), flush=True)
                next_sample += SAMPLE
            if w.poll() is not None:
                raise SystemExit(f"worker exited with {w.returncode}")
        time.sleep(15)  # let the last events and a reconcile finish
        registered = {i["Id"] for s in services for i in sd.list_instances(ServiceId=s)["Instances"]}
        still = [i for i, _ in terminated if i in registered]
        lost = [i for i in live if i not in registered]
    finally:
        w.terminate()
        w.wait(timeout=60)
        moto.close()
    first, last = samples[0], samples[-1]
    half = len(samples) // 2

    def rate(a, b, key):
        return (b[key] - a[key]) / max(1, b["t"] - a["t"])

    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "seconds": DURATION,
        "load": f"{len(terminated)} terminations with events, as many replacements, {4 * len(terminated)} spot notices for on-demand (forged) instances; reconcile every 10 s over {SERVICES} services",
        "rss_mib": {
            "first": first["rss_mib"],
            "last": last["rss_mib"],
            "max": max(s["rss_mib"] for s in samples),
            "growth_percent": round(100 * (last["rss_mib"] - first["rss_mib"]) / first["rss_mib"], 1),
        },
        "fds": {"first": first["fds"], "last": last["fds"], "max": max(s["fds"] for s in samples)},
        "aws_errors_per_min": {
            "first_half": round(60 * rate(first, samples[half], "aws_errors"), 3),
            "second_half": round(60 * rate(samples[half], last, "aws_errors"), 3),
        },
        "reconcile_failures": last["reconcile_failures"],
        "receive_errors": last["receive_errors"],
        "terminated_still_registered": len(still),
        "live_instances_removed": len(lost),
        "exit_code_on_sigterm": w.returncode,
        "samples": samples,
    }
    ok = (
        result["rss_mib"]["growth_percent"] < 10
        and last["fds"] <= first["fds"] * 1.1
        and not still
        and not lost
        and w.returncode == 0
    )
    result["pass"] = ok
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    write_result("soak", result)


if __name__ == "__main__":
    main()
