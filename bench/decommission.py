"""Issue #5 benchmark: `cloud-unmap decommission` of 40 tagged instances over 2 accounts × 2 regions
on moto, with the default concurrency (8) and with --concurrency 1; fresh instances for every run.
Twice: without draining, and draining each instance from a Cloud Map service with a 2 s drain wait.
API calls per instance are counted through a loopback proxy.

    bench/run.sh decommission
"""

import json
import subprocess
import time
import uuid

import boto3

from bench.common import BIN, CountingProxy, Moto, aws_env, machine, write_result

MEMBER_ROLE = "arn:aws:iam::222222222222:role/cloud-unmap-decommission"
REGIONS = ["us-east-1", "eu-west-1"]
PER_TARGET = 10  # 2 accounts × 2 regions × 10 = 40


def session(endpoint, member):
    kw = dict(endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    if not member:
        return kw
    creds = boto3.client("sts", region_name="us-east-1", **kw).assume_role(
        RoleArn=MEMBER_ROLE, RoleSessionName="bench"
    )["Credentials"]
    return dict(
        endpoint_url=endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def fixture(endpoint, team, service):
    ids = []
    for member in (False, True):
        kw = session(endpoint, member)
        for region in REGIONS:
            ec2 = boto3.client("ec2", region_name=region, **kw)
            out = ec2.run_instances(
                ImageId="ami-12c6146b",
                MinCount=PER_TARGET,
                MaxCount=PER_TARGET,
                TagSpecifications=[
                    {
                        "ResourceType": "instance",
                        "Tags": [{"Key": "team", "Value": team}, {"Key": "Name", "Value": "bench"}],
                    }
                ],
            )
            ids += [(i["InstanceId"], i["PrivateIpAddress"]) for i in out["Instances"]]
    if service:
        sd = boto3.client("servicediscovery", region_name="us-east-1", **session(endpoint, False))
        for i, ip in ids:
            sd.register_instance(ServiceId=service, InstanceId=i, Attributes={"AWS_INSTANCE_IPV4": ip})
    return ids


def run(endpoint, team, concurrency, service, drain):
    args = [
        BIN,
        "decommission",
        "--tag",
        f"team={team}",
        "--region",
        REGIONS[0],
        "--region",
        REGIONS[1],
        "--role-arn",
        MEMBER_ROLE,
        "--yes",
        "--output",
        "json",
        "--concurrency",
        str(concurrency),
    ]
    if service:
        args += ["--service-id", service, "--service-region", "us-east-1", "--drain-seconds", str(drain)]
    t0 = time.perf_counter()
    p = subprocess.run(args, env=aws_env(endpoint), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    report = json.loads(p.stdout)
    if p.returncode != 0 or report["summary"]["terminated"] != 4 * PER_TARGET:
        raise SystemExit(f"run failed: exit {p.returncode}, {report['summary']}\n{p.stderr[-2000:]}")
    return wall


def main():
    moto = Moto()
    try:
        sd = boto3.client("servicediscovery", region_name="us-east-1", **session(moto.endpoint, False))
        op = sd.create_http_namespace(Name="bench")["OperationId"]
        ns = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
        service = sd.create_service(Name="bench", NamespaceId=ns)["Service"]["Id"]
        result = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
            "fixture": f"{4 * PER_TARGET} instances, 2 accounts x 2 regions, one EBS volume each; moto 5.2.5",
        }
        for label, svc, drain in (("no_drain", None, 0), ("drain_2s", service, 2)):
            walls = {}
            for concurrency in (8, 1):
                team = f"bench-{uuid.uuid4().hex[:8]}"
                fixture(moto.endpoint, team, svc)
                walls[concurrency] = run(moto.endpoint, team, concurrency, svc, drain)
                print(f"{label} concurrency {concurrency}: {walls[concurrency]:.2f} s", flush=True)
            result[label] = {
                "default_concurrency_8_s": round(walls[8], 2),
                "concurrency_1_s": round(walls[1], 2),
                "ratio": round(walls[8] / walls[1], 3),
            }
        # API calls per instance (default concurrency, with drain).
        team = f"bench-{uuid.uuid4().hex[:8]}"
        fixture(moto.endpoint, team, service)
        proxy = CountingProxy(moto.port)
        run(proxy.endpoint, team, 8, service, 0)
        counts = proxy.counts
        proxy.close()
        result["api_calls"] = dict(sorted(counts.items()))
        result["api_calls_per_instance"] = round(sum(counts.values()) / (4 * PER_TARGET), 2)
    finally:
        moto.close()
    print(json.dumps(result, indent=2))
    write_result("decommission", result)


if __name__ == "__main__":
    main()
