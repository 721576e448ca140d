"""Issue #10 benchmark: drain accuracy of terminate lifecycle actions, on moto behind the test proxy.

N instances of one Auto Scaling group are registered beside one plain instance; the proxy shows each
one Terminating:Wait and answers CompleteLifecycleAction as AWS does (moto has neither). One
lifecycle action of cloud-unmap's hook per instance is queued, 250 ms apart; the worker runs with
`--lifecycle-drain-seconds DRAIN`. For each action:

    lateness = CONTINUE time (the proxy's clock) - deregistration time (the worker's log) - DRAIN

It must never be negative (CONTINUE before the drain is over); its floor is SQS's delayed delivery
plus one verification round (DescribeInstances, DescribeAutoScalingInstances, ListInstances) and the
CompleteLifecycleAction call. There is no seed to compare with: aws-cloud-unmap 2.0.0 does not
handle lifecycle actions.

    bench/run.sh drain          (N=20, DRAIN=3 by default; env N, DRAIN)
"""

import datetime
import json
import os
import signal
import subprocess
import tempfile
import time

import boto3

from bench.common import (
    CountingProxy,
    Moto,
    aws_env,
    free_port,
    machine,
    percentile,
    wait_ready,
    worker_args,
    write_result,
)

N = int(os.environ.get("N", "20"))
DRAIN = int(os.environ.get("DRAIN", "3"))


def clients(endpoint):
    kw = dict(
        endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return {n: boto3.client(n, **kw) for n in ("sqs", "servicediscovery", "ec2", "autoscaling")}


def fixture(c):
    """A service with one plain instance and N group members registered; returns (service, group, members)."""
    sd = c["servicediscovery"]
    op = sd.create_http_namespace(Name="bench-drain")["OperationId"]
    ns = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    service = sd.create_service(Name="web", NamespaceId=ns)["Service"]["Id"]
    asg = c["autoscaling"]
    asg.create_launch_configuration(LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="t3.micro")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchConfigurationName="lc",
        MinSize=N,
        MaxSize=N,
        DesiredCapacity=N,
        AvailabilityZones=["us-east-1a"],
    )
    members = [i["InstanceId"] for i in asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"]]
    plain = c["ec2"].run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1)
    ids = members + [plain["Instances"][0]["InstanceId"]]
    described = c["ec2"].describe_instances(InstanceIds=ids)
    for r in described["Reservations"]:
        for i in r["Instances"]:
            sd.register_instance(
                ServiceId=service,
                InstanceId=i["InstanceId"],
                Attributes={"AWS_INSTANCE_IPV4": i["PrivateIpAddress"]},
            )
    return service, members


def event(instance_id, token):
    return json.dumps(
        {
            "version": "0",
            "id": token,
            "detail-type": "EC2 Instance-terminate Lifecycle Action",
            "source": "aws.autoscaling",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "LifecycleActionToken": token,
                "AutoScalingGroupName": "web",
                "LifecycleHookName": "cloud-unmap",
                "EC2InstanceId": instance_id,
                "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
            },
        }
    )


def epoch(rfc3339):
    """Seconds since the epoch of the worker's log timestamps (UTC, up to nanoseconds)."""
    base, _, frac = rfc3339.rstrip("Z").partition(".")
    whole = datetime.datetime.fromisoformat(base).replace(tzinfo=datetime.timezone.utc).timestamp()
    return whole + float("0." + (frac or "0"))


def main():
    moto = Moto()
    proxy = CountingProxy(moto.port)
    c = clients(moto.endpoint)
    service, members = fixture(c)
    for m in members:
        proxy.control(f"terminating/{m}")
    url = c["sqs"].create_queue(QueueName="bench-drain")["QueueUrl"]
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    args = worker_args(["--service-id", service], url, port, json_logs=True)
    worker = subprocess.Popen(args + ["--lifecycle-drain-seconds", str(DRAIN)], env=aws_env(proxy.endpoint), stdout=log)
    try:
        wait_ready(port)
        for i, m in enumerate(members):
            c["sqs"].send_message(QueueUrl=url, MessageBody=event(m, f"tok-{i}"))
            time.sleep(0.25)
        deadline = time.time() + 120
        while len(proxy.control("state")["lifecycle_actions"]) < N:
            if time.time() > deadline:
                raise SystemExit("not every lifecycle action was completed")
            time.sleep(0.1)
        completions = {a["InstanceId"]: a for a in proxy.control("state")["lifecycle_actions"]}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        proxy.close()
        moto.close()
    log.seek(0)
    dereg = {}
    for line in log:
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if v.get("message") == "deregistered":
            dereg[v["instance_id"]] = epoch(v["timestamp"])
    lateness = [completions[m]["at"] - dereg[m] - DRAIN for m in members]
    once = all(a["answer"] == "ok" for a in completions.values()) and len(completions) == N
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "actions": N,
        "drain_s": DRAIN,
        "completed_once_each": once,
        "never_early": min(lateness) >= 0,
        "lateness_ms": {
            "min": round(min(lateness) * 1000, 1),
            "p50": round(percentile(lateness, 50) * 1000, 1),
            "p99": round(percentile(lateness, 99) * 1000, 1),
            "max": round(max(lateness) * 1000, 1),
        },
    }
    print(json.dumps(result, indent=2))
    write_result("drain", result)


if __name__ == "__main__":
    main()
