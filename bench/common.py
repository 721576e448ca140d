"""Shared pieces of the benchmark harnesses: moto on a free loopback port, a counting proxy, the
machine description, process sampling. Everything listens on 127.0.0.1 and stops with the harness."""

import collections
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
SEED_BIN = os.path.join(ROOT, "bench", ".venv-seed", "bin", "aws-cloud-unmap")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/cloud-unmap/target"))
# BENCH_BIN runs another build (e.g. an older commit, for a same-machine A/B).
BIN = os.environ.get("BENCH_BIN") or os.path.join(TARGET, "release", "cloud-unmap")


class Moto:
    """moto's server; it stops when our end of its stdin closes (also if this harness dies)."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [VENV_PY, os.path.join(ROOT, "scripts", "moto_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.port = int(self.proc.stdout.readline())
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


class CountingProxy:
    """scripts/aws_proxy.py in front of moto: counts the AWS requests that pass, by operation."""

    def __init__(self, upstream_port):
        self.proc = subprocess.Popen(
            [VENV_PY, os.path.join(ROOT, "scripts", "aws_proxy.py"), str(upstream_port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.proc.stdout.readline())
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def control(self, what):
        with urllib.request.urlopen(f"{self.endpoint}/__proxy/{what}", timeout=10) as r:
            return json.loads(r.read())

    @property
    def counts(self):
        return collections.Counter(self.control("state")["counts"])

    def close(self):
        self.counts_at_close = self.counts
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def wait_ready(port, limit=60):
    """Waits until the worker's /readyz answers 200."""
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.05)
    raise SystemExit("worker never became ready")


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB, {platform.system()} {platform.release()}"


def aws_env(endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLOUD_UNMAP_"))}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_status(pid, key):
    """A /proc/<pid>/status field in KiB (VmHWM = peak RSS)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def write_result(name, result):
    out = os.path.join(ROOT, "bench", "out")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{name}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {path}", file=sys.stderr)


def worker_args(selection, queue_url, port, frequency=3600, json_logs=False):
    """The event worker's command line: `selection` (e.g. ["--namespace-id", ns]), instances and
    services in us-east-1, the queue, HTTP on 127.0.0.1:`port`."""
    args = [BIN, *selection, "--service-region", "us-east-1", "--instances-region", "us-east-1"]
    args += ["--frequency", str(frequency), "--queue-url", queue_url]
    args += ["--prometheus-host", "127.0.0.1", "--prometheus-port", str(port)]
    return args + (["--log-format", "json"] if json_logs else [])
