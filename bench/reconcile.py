"""Issue #2 benchmark: --single-run wall time and AWS calls, cloud-unmap vs aws-cloud-unmap 2.0.0,
on one moto server and one fixture (1 service, 900 registrations, 90 instances terminated); runs
alternate and the fixture is restored before each. Then the long-running worker's peak RSS (both
tools) and cloud-unmap's idle CPU.

    bench/run.sh reconcile        (builds what it needs; see bench/README.md)
"""

import json
import os
import statistics
import subprocess
import sys
import time

from bench.common import (
    BIN,
    ROOT,
    SEED_BIN,
    VENV_PY,
    CountingProxy,
    Moto,
    aws_env,
    cpu_seconds,
    free_port,
    machine,
    proc_status,
    wait_ready,
    write_result,
)

ROUNDS = int(os.environ.get("ROUNDS", "5"))
N, DEAD = 900, 90
FIXTURE = os.path.join(ROOT, "scripts", "fixture.py")


def fixture(*args):
    return subprocess.run([VENV_PY, FIXTURE, *args], check=True, capture_output=True, text=True).stdout


def command(tool, service):
    common = ["--service-id", service, "--service-region", "us-east-1", "--instances-region", "us-east-1"]
    return [BIN, *common, "--log-format", "json"] if tool == "cloud-unmap" else [SEED_BIN, *common]


def single_run(tool, service, endpoint):
    t0 = time.perf_counter()
    p = subprocess.run(command(tool, service) + ["--single-run"], env=aws_env(endpoint), capture_output=True)
    return time.perf_counter() - t0, p.returncode


def describe_floor(port, ids):
    """Median of 3 raw DescribeInstances (one filter of every id) on the idle moto, no client parsing."""
    import http.client
    import urllib.parse

    form = {"Action": "DescribeInstances", "Version": "2016-11-15", "Filter.1.Name": "instance-id"}
    form.update({f"Filter.1.Value.{k + 1}": i for k, i in enumerate(ids)})
    body = urllib.parse.urlencode(form)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x",
    }
    runs = []
    for _ in range(3):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        t0 = time.perf_counter()
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        runs.append(time.perf_counter() - t0)
        conn.close()
        assert resp.status == 200, resp.status
    return statistics.median(runs)


def main():
    moto = Moto()
    try:
        state = json.loads(fixture("seed", "--endpoint", moto.endpoint, "--instances", str(N)))
        service = state["service"]
        dead = [i["id"] for i in state["instances"][:: N // DEAD]][:DEAD]
        fixture("terminate", "--endpoint", moto.endpoint, "--ids", *dead)
        state_file = os.path.join(ROOT, "bench", "out", "reconcile-state.json")
        os.makedirs(os.path.dirname(state_file), exist_ok=True)
        json.dump(state, open(state_file, "w"))
        expected = sorted(set(i["id"] for i in state["instances"]) - set(dead))

        def restore():
            fixture("register", "--endpoint", moto.endpoint, "--service", service, "--state", state_file)

        def check(tool):
            left = fixture("registered", "--endpoint", moto.endpoint, "--service", service).split()
            if left != expected:
                raise SystemExit(f"{tool} left {len(left)} registrations, expected {len(expected)}")

        times = {"cloud-unmap": [], "aws-cloud-unmap": []}
        for r in range(ROUNDS):
            order = ["cloud-unmap", "aws-cloud-unmap"] if r % 2 == 0 else ["aws-cloud-unmap", "cloud-unmap"]
            for tool in order:
                restore()
                wall, code = single_run(tool, service, moto.endpoint)
                check(tool)
                times[tool].append(wall)
                print(f"round {r + 1} {tool}: {wall:.3f} s (exit {code})", file=sys.stderr)

        calls = {}
        for tool in times:
            restore()
            proxy = CountingProxy(moto.port)
            single_run(tool, service, proxy.endpoint)
            calls[tool] = dict(sorted(proxy.counts.items()))
            proxy.close()
            check(tool)
        floor = describe_floor(moto.port, [i["id"] for i in state["instances"]])

        # Long-running: cloud-unmap's idle CPU (frequency 300 s, after the first reconcile) ...
        restore()
        port = free_port()
        w = subprocess.Popen(
            command("cloud-unmap", service)
            + ["--frequency", "300", "--prometheus-host", "127.0.0.1", "--prometheus-port", str(port)],
            env=aws_env(moto.endpoint),
            stdout=subprocess.DEVNULL,
        )
        wait_ready(port)
        c0 = cpu_seconds(w.pid)
        time.sleep(10)
        idle_cpu = (cpu_seconds(w.pid) - c0) / 10
        w.terminate()
        w.wait(timeout=30)

        # ... and both tools' peak RSS over 20 s of back-to-back reconciles (frequency 1 s) of 900 registrations.
        rss = {}
        for tool in times:
            restore()
            extra = ["--frequency", "1"]
            if tool == "cloud-unmap":
                extra += ["--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port())]
            p = subprocess.Popen(
                command(tool, service) + extra,
                env=aws_env(moto.endpoint),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(20)
            rss[tool] = proc_status(p.pid, "VmHWM") / 1024
            p.terminate()
            p.wait(timeout=30)

        med = {t: statistics.median(v) for t, v in times.items()}
        result = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
            "fixture": f"1 service, {N} registrations, {DEAD} terminated; moto 5.2.5; {ROUNDS} alternated rounds",
            "single_run_seconds": {
                t: {"median": round(med[t], 3), "runs": [round(x, 3) for x in v]} for t, v in times.items()
            },
            "ratio_median": round(med["cloud-unmap"] / med["aws-cloud-unmap"], 3),
            "api_calls": calls,
            "api_calls_total": {t: sum(c.values()) for t, c in calls.items()},
            # What moto alone needs to answer DescribeInstances for the 900 ids (it serializes ~1 ms of
            # CPU per instance, one request at a time): a floor under any tool that checks IPs.
            "moto_describe_floor_seconds": round(floor, 3),
            "peak_rss_mib": {t: round(v, 1) for t, v in rss.items()},
            "idle_cpu_percent": round(idle_cpu * 100, 2),
        }
        print(json.dumps(result, indent=2))
        write_result("reconcile", result)
    finally:
        moto.close()


if __name__ == "__main__":
    main()
