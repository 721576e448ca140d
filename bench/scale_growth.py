"""bench/scale.py, part "growth": one reconcile of 20 services (SERVICES) whose instances live in two
regions (us-east-1, where Cloud Map is, and us-west-2), every request delayed DELAY_MS, at 1×, 2× and 4×
GROWTH_BASE registrations per service: wall time, calls by operation, peak RSS. Beside it, at each size,
aws-cloud-unmap 2.0.0's `--single-run` with both regions, one per service one after the other (it takes one
service), on the same fixture restored."""

import os
import subprocess
import time
import uuid

import boto3

from bench.common import SEED_BIN, CountingProxy, Moto, aws_env, proc_status

REGIONS = ("us-east-1", "us-west-2")


def seed(endpoint, services, per_service):
    """`services` services in one namespace of us-east-1, each with `per_service` registrations of running
    instances, alternately in each region; a tenth of each service's instances terminated."""
    kw = dict(endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    sd = boto3.client("servicediscovery", region_name=REGIONS[0], **kw)
    ec2 = {r: boto3.client("ec2", region_name=r, **kw) for r in REGIONS}
    op = sd.create_http_namespace(Name=f"growth-{uuid.uuid4().hex[:8]}")["OperationId"]
    ns = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    out = []
    for k in range(services):
        svc = sd.create_service(Name=f"svc-{k}", NamespaceId=ns)["Service"]["Id"]
        dead = []
        for j, region in enumerate(REGIONS):
            n = per_service // 2 + (per_service % 2 if j == 0 else 0)
            made = ec2[region].run_instances(ImageId="ami-12c6146b", MinCount=n, MaxCount=n)["Instances"]
            for i in made:
                attrs = {"AWS_INSTANCE_IPV4": i["PrivateIpAddress"], "AWS_INSTANCE_PORT": "80"}
                sd.register_instance(ServiceId=svc, InstanceId=i["InstanceId"], Attributes=attrs)
            gone = made[::10]
            ec2[region].terminate_instances(InstanceIds=[i["InstanceId"] for i in gone])
            dead += [(i["InstanceId"], i["PrivateIpAddress"]) for i in gone]
        out.append((svc, dead))
    return ns, out


def growth(binary, base, services, delay_ms):
    rows = []
    for factor in (1, 2, 4):
        per = base * factor
        moto = Moto()
        proxy = CountingProxy(moto.port)
        try:
            ns, fixture = seed(moto.endpoint, services, per)
            proxy.control(f"slow/{delay_ms}")
            before = proxy.counts
            args = [binary, "--namespace-id", ns, "--service-region", REGIONS[0]]
            args += ["--instances-region", ",".join(REGIONS), "--single-run", "--log-format", "json"]
            t0 = time.perf_counter()
            p = subprocess.Popen(args, env=aws_env(proxy.endpoint), stdout=subprocess.DEVNULL)
            # Peak RSS: VmHWM read until the process ends (its high-water mark since exec; a child's
            # ru_maxrss would count the harness's own memory, copied at fork, before exec).
            rss_kib = 0
            while p.poll() is None:
                try:
                    rss_kib = max(rss_kib, proc_status(p.pid, "VmHWM") or 0)
                except OSError:
                    pass
                time.sleep(0.02)
            wall = time.perf_counter() - t0
            calls = dict(sorted((proxy.counts - before).items()))
            rss = rss_kib / 1024
            removed = sum(len(d) for _, d in fixture)
            # The seed, on the fixture restored: one --single-run per service, one after the other.
            seed_wall = None
            if os.path.exists(SEED_BIN):
                sd = boto3.client(
                    "servicediscovery",
                    region_name=REGIONS[0],
                    endpoint_url=moto.endpoint,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                )
                for svc, dead in fixture:
                    for i, ip in dead:
                        attrs = {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "80"}
                        sd.register_instance(ServiceId=svc, InstanceId=i, Attributes=attrs)
                t0 = time.perf_counter()
                for svc, _ in fixture:
                    seed_args = [SEED_BIN, "--service-id", svc, "--service-region", REGIONS[0]]
                    seed_args += ["--instances-region", *REGIONS, "--single-run"]
                    subprocess.run(seed_args, env=aws_env(proxy.endpoint), capture_output=True)
                seed_wall = round(time.perf_counter() - t0, 2)
            rows.append(
                {
                    "registrations": services * per,
                    "terminated": removed,
                    "exit": p.returncode,
                    "seconds": round(wall, 2),
                    "calls": calls,
                    "calls_total": sum(calls.values()),
                    "peak_rss_mib": round(rss, 1),
                    "seed_seconds_one_run_per_service": seed_wall,
                }
            )
        finally:
            proxy.close()
            moto.close()
    return rows
