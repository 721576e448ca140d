"""Issue #23 benchmark: the reconcile's cost at organization scale, counted at scripts/aws_proxy.py.

At each size (SIZES, `services x accounts x registrations-per-service`; default 30x6x4, 300x6x4,
1000x6x10): one namespace of `services` services in the home account, each registration an instance
of its own, spread evenly over the home account and `accounts - 1` member accounts (moto acts in
another account through sts:AssumeRole), one region; a twentieth of the instances terminated.

1. `--single-run` (a first cycle: nothing known yet of where instances live): wall time, calls by
   operation, DescribeInstances by account x region, the highest per-second rate of each operation,
   peak RSS, exit code, and the registrations left checked (exactly the live ones).
2. A long-running worker (`--frequency 1`) on the cleaned fixture: DescribeInstances per account x
   region per steady cycle (instances asked only where they were found), over STEADY cycles; its
   peak RSS.
3. Flat in services (FLAT, default 1200 registrations over 6 accounts as 30, 300 and 1200 services):
   DescribeInstances per account x region of a first and of a steady cycle.

BASE_BIN (optional): another build (e.g. main before issue #23) runs the same `--single-run` at each
size, for its calls. aws-cloud-unmap 2.0.0 does not apply: it reads one service in one account.

    bench/run.sh organization     or     BENCH_BIN=... .venv/bin/python -m bench.organization
"""

import concurrent.futures
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid

import boto3

from bench.common import BIN, CountingProxy, Moto, aws_env, free_port, machine, proc_status, write_result

REGION = "us-east-1"
SIZES = os.environ.get("SIZES", "30x6x4,300x6x4,1000x6x10").split(",")
FLAT_REGISTRATIONS = int(os.environ.get("FLAT", "1200"))
FLAT_SERVICES = [int(x) for x in os.environ.get("FLAT_SERVICES", "30,300,1200").split(",") if x]
STEADY = int(os.environ.get("STEADY", "2"))
# Extra flags for cloud-unmap (e.g. EXTRA="--budget-cloudmap-read 3000", to see a cycle without a budget).
EXTRA = os.environ.get("EXTRA", "").split()
BASE_BIN = os.environ.get("BASE_BIN")
ACCOUNTS = ["123456789012"] + [f"{d}" * 12 for d in range(2, 10)]


def role(account):
    return f"arn:aws:iam::{account}:role/cloud-unmap-reader"


def clients(endpoint, account):
    kw = dict(endpoint_url=endpoint, region_name=REGION)
    home = dict(aws_access_key_id="testing", aws_secret_access_key="testing")
    if account == ACCOUNTS[0]:
        return boto3.client("ec2", **kw, **home)
    creds = boto3.client("sts", **kw, **home).assume_role(RoleArn=role(account), RoleSessionName="bench")
    c = creds["Credentials"]
    return boto3.client(
        "ec2",
        **kw,
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )


def seed(endpoint, services, accounts, per_service):
    """The namespace, and the live and dead instance ids (registered once each)."""
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    sd = boto3.client("servicediscovery", **kw)
    op = sd.create_http_namespace(Name=f"org-{uuid.uuid4().hex[:8]}")["OperationId"]
    ns = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    svcs = [sd.create_service(Name=f"svc-{k}", NamespaceId=ns)["Service"]["Id"] for k in range(services)]
    total = services * per_service
    per_account = [total // accounts + (1 if a < total % accounts else 0) for a in range(accounts)]
    by_account = []  # each account's instances: (id, ip, account index)
    for a, n in enumerate(per_account):
        ec2 = clients(endpoint, ACCOUNTS[a])
        made = []
        while n > 0:
            k = min(n, 500)
            made += ec2.run_instances(ImageId="ami-12c6146b", MinCount=k, MaxCount=k)["Instances"]
            n -= k
        by_account.append([(i["InstanceId"], i["PrivateIpAddress"], a) for i in made])
    # Registration n (of service n // per_service) is dealt round the accounts.
    dealt = [by_account[n % accounts][n // accounts] for n in range(total)]

    def register(job):
        svc, (iid, ip, _) = job
        sd.register_instance(
            ServiceId=svc, InstanceId=iid, Attributes={"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "80"}
        )

    jobs = [(svcs[n // per_service], dealt[n]) for n in range(total)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(register, jobs))
    dead = [i for n, i in enumerate(dealt) if n % 20 == 7]
    for a in range(accounts):
        ids = [i[0] for i in dead if i[2] == a]
        ec2 = clients(endpoint, ACCOUNTS[a])
        for c in range(0, len(ids), 500):
            ec2.terminate_instances(InstanceIds=ids[c : c + 500])
    return ns, svcs, {i[0] for i in dealt} - {i[0] for i in dead}, len(dead)


def registered(endpoint, svcs):
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    sd = boto3.client("servicediscovery", **kw)
    out = set()
    for svc in svcs:
        for page in sd.get_paginator("list_instances").paginate(ServiceId=svc):
            out |= {i["Id"] for i in page["Instances"]}
    return out


def args(binary, ns, accounts):
    a = [binary, "--namespace-id", ns, "--service-region", REGION, "--instances-region", REGION]
    for acct in ACCOUNTS[1:accounts]:
        a += ["--instances-role-arn", role(acct)]
    return a + ["--log-format", "json"] + (EXTRA if binary == BIN else [])


def describes_by_target(state):
    """DescribeInstances by caller: region and access key (one per account and process: an assumed
    role's session has keys of its own)."""
    out = {}
    for key, n in state["by_target"].items():
        op, region, akid = key.split(" ")
        if op == "DescribeInstances":
            out[f"{region}/{akid}"] = out.get(f"{region}/{akid}", 0) + n
    return out


def run_watched(cmd, env):
    """Runs `cmd` to the end; wall time, exit code, peak RSS (VmHWM, polled)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss = 0
    while p.poll() is None:
        try:
            rss = max(rss, proc_status(p.pid, "VmHWM") or 0)
        except OSError:
            pass
        time.sleep(0.02)
    return time.perf_counter() - t0, p.returncode, rss / 1024


def cycles_begun(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith('cloud_unmap_reconcile_cycles_total{cause="timer",outcome="ran"}'):
                    return float(line.rsplit(" ", 1)[1])
    except Exception:
        pass
    return 0


def steady(proxy, ns, accounts, cycles):
    """A long-running worker: DescribeInstances by target over `cycles` steady cycles (after its first),
    its peak RSS, and a steady cycle's duration (from its cycle starts)."""
    port = free_port()
    cmd = args(BIN, ns, accounts) + ["--frequency", "1", "--shutdown-timeout", "3600"]
    cmd += ["--prometheus-host", "127.0.0.1", "--prometheus-port", str(port)]
    w = subprocess.Popen(cmd, env=aws_env(proxy.endpoint), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Cycle 2 begun: the first is over, and no lookup of the second has started (it lists first).
        while cycles_begun(port) < 2:
            time.sleep(0.01)
        t0 = time.perf_counter()
        before = describes_by_target(proxy.control("state"))
        while cycles_begun(port) < cycles + 1:
            time.sleep(0.01)
        # Cycle starts are `--frequency` 1 s (+ up to 10 % jitter) after the previous cycle's end.
        seconds = (time.perf_counter() - t0) / (cycles - 1) - 1.05 if cycles > 1 else None
        rss = proc_status(w.pid, "VmHWM") / 1024
        # SIGTERM: the cycle in progress (the last counted) finishes, no other begins.
        w.send_signal(signal.SIGTERM)
        w.wait(timeout=3600)
    finally:
        if w.poll() is None:
            w.kill()
    after = describes_by_target(proxy.control("state"))
    per_cycle = {t: (after.get(t, 0) - before.get(t, 0)) / cycles for t in after}
    # Only this worker's callers: the targets it asked in its steady cycles.
    return {t: n for t, n in per_cycle.items() if n > 0}, rss, seconds


def size_row(services, accounts, per_service):
    moto = Moto()
    proxy = CountingProxy(moto.port)
    try:
        t0 = time.perf_counter()
        ns, svcs, live, dead = seed(moto.endpoint, services, accounts, per_service)
        seeded = time.perf_counter() - t0
        base = None
        if BASE_BIN:
            base_proxy = CountingProxy(moto.port)
            wall, code, rss = run_watched(
                args(BASE_BIN, ns, accounts) + ["--single-run", "--dry-run"], aws_env(base_proxy.endpoint)
            )
            st = base_proxy.control("state")
            base = {
                "seconds": round(wall, 2),
                "exit": code,
                "calls": dict(sorted(st["counts"].items())),
                "describe_instances": st["counts"].get("DescribeInstances", 0),
                "peak_rss_mib": round(rss, 1),
            }
            base_proxy.close()
        wall, code, rss = run_watched(args(BIN, ns, accounts) + ["--single-run"], aws_env(proxy.endpoint))
        left = registered(moto.endpoint, svcs)
        first = proxy.control("state")
        by_target = describes_by_target(first)
        proxy.control("peaks/reset")
        per_cycle, steady_rss, steady_seconds = steady(proxy, ns, accounts, STEADY)
        steady_peaks = proxy.control("state")["peak_per_second"]
        return {
            "services": services,
            "accounts": accounts,
            "targets": accounts,
            "registrations": services * per_service,
            "terminated": dead,
            "seed_seconds": round(seeded, 1),
            "first_cycle": {
                "seconds": round(wall, 2),
                "exit": code,
                "left_exactly_the_live": left == live,
                "calls": dict(sorted(first["counts"].items())),
                "describe_instances": first["counts"].get("DescribeInstances", 0),
                "describe_instances_per_target_max": max(by_target.values(), default=0),
                "peak_rss_mib": round(rss, 1),
                "peak_per_second": dict(sorted(first["peak_per_second"].items())),
            },
            "steady_cycle": {
                "seconds": steady_seconds and round(steady_seconds, 2),
                "targets_asked": len(per_cycle),
                "describe_instances_per_target_max": max(per_cycle.values(), default=0),
                "describe_instances": round(sum(per_cycle.values()), 2),
                "peak_rss_mib": round(steady_rss, 1),
                "peak_per_second": dict(sorted(steady_peaks.items())),
            },
            "base": base,
        }
    finally:
        proxy.close()
        moto.close()


def main():
    rows = []
    for size in SIZES:
        services, accounts, per_service = (int(x) for x in size.split("x"))
        row = size_row(services, accounts, per_service)
        print(json.dumps(row), flush=True)
        rows.append(row)
    flat = []
    for services in FLAT_SERVICES:
        per_service = max(1, FLAT_REGISTRATIONS // services)
        row = size_row(services, 6, per_service)
        print(json.dumps(row), flush=True)
        flat.append(
            {
                "services": services,
                "registrations": row["registrations"],
                "first_cycle_describe_per_target_max": row["first_cycle"]["describe_instances_per_target_max"],
                "steady_cycle_describe_per_target_max": row["steady_cycle"]["describe_instances_per_target_max"],
                "steady_cycle_describe_instances": row["steady_cycle"]["describe_instances"],
                "first_cycle_seconds": row["first_cycle"]["seconds"],
                "base_describe_instances": row["base"] and row["base"]["describe_instances"],
            }
        )
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "binary": BIN,
        "base_binary": BASE_BIN,
        "sizes": rows,
        "flat_in_services": flat,
    }
    print(json.dumps(result, indent=2))
    write_result("organization", result)


if __name__ == "__main__":
    main()
