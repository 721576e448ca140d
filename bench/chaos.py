"""Issue #24 chaos: REPLICAS (3) workers sharing one queue and a DynamoDB state table, reaching AWS only
through scripts/aws_proxy.py with RATE (10 %) of their requests faulted (dropped connections, answers lost
after AWS did the request, 2 s delays, 500, 503, throttling in each protocol's shape), while one replica
is killed with SIGKILL every KILL_EVERY (20) s and restarted at once. Into the queue go TERMINATIONS
(1,000) termination events of live instances (each terminated in EC2 just before its event is sent),
FORGED termination events of instances that still run, GARBAGE unreadable bodies, and the reconcile
message every FREQUENCY s (as the deployed EventBridge schedule puts it); SILENT more instances are
terminated with no event at all (a lost delivery: only the shared reconcile can remove them). Figures:
messages lost (the queue empty and the dead-letter queue holding only the garbage at the end), healthy
registrations removed (must be 0), dead registrations left 2 x FREQUENCY after the last termination (must
be 0), AWS calls per API, the faults injected, and what the replicas' logs say of the reconcile cycles.

    bench/run.sh chaos                                  # the release build, full size
    BENCH_BIN=/tmp/chaos-bin CHAOS_TERMINATIONS=100 .venv/bin/python -m bench.chaos   # a quick one

Knobs (environment): CHAOS_TERMINATIONS (1000), CHAOS_SILENT (50), CHAOS_FORGED (200), CHAOS_GARBAGE (20),
CHAOS_FAULT_RATE (0.1), CHAOS_KILL_EVERY (20 s), CHAOS_FREQUENCY (60 s), CHAOS_SEND_PER_S (10),
CHAOS_SETTLE (600 s: how long the queue may take to empty once faults and kills stop). Each replica's log
is in bench/out/chaos-replica-<k>.log (JSON lines, appended across its restarts).
"""

import collections
import ctypes
import json
import os
import random
import signal
import subprocess
import time

import boto3

from bench.common import (
    BIN,
    ROOT,
    CountingProxy,
    Moto,
    aws_env,
    free_port,
    machine,
    wait_ready,
    worker_args,
    write_result,
)


def knob(name, default):
    return type(default)(os.environ.get(f"CHAOS_{name}", default))


REPLICAS = 3
TERMINATIONS = knob("TERMINATIONS", 1000)
FORGED = knob("FORGED", 200)
# Terminations whose event never comes (EventBridge delivery lost): only the shared reconcile removes them.
SILENT = knob("SILENT", 50)
GARBAGE = knob("GARBAGE", 20)
LIVE_PER_SERVICE = 20
RATE = knob("FAULT_RATE", 0.1)
KILL_EVERY = knob("KILL_EVERY", 20)
FREQUENCY = knob("FREQUENCY", 60)
SEND_PER_S = knob("SEND_PER_S", 10)
SETTLE = knob("SETTLE", 600)
MAX_RECEIVES = 5  # as infra/ deploys the queue
VISIBILITY = 60  # as infra/ deploys the queue
OUT = os.path.join(ROOT, "bench", "out")
# "lost": moto does the request, the answer never comes back (a retry then meets its own effect).
KINDS = "drop,lost,delay,500,503,throttle"


def envelope(instance_id, state):
    detail = {"instance-id": instance_id, "state": state}
    return json.dumps(
        {
            "version": "0",
            "id": "x",
            "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    )


def die_with_parent():
    """The replica gets SIGKILL when the harness dies, so none outlives it (Linux prctl)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Fleet:
    """The replicas: each started with its own HTTP port, killed with SIGKILL in turn, restarted at once."""

    def __init__(self, args, env):
        self.args, self.env, self.procs, self.kills = args, env, [], 0
        os.makedirs(OUT, exist_ok=True)
        for k in range(REPLICAS):
            with open(os.path.join(OUT, f"chaos-replica-{k}.log"), "w"):
                pass
            self.procs.append(self.start(k))

    def start(self, k):
        port = free_port()
        with open(os.path.join(OUT, f"chaos-replica-{k}.log"), "a") as log:
            proc = subprocess.Popen(
                self.args(port), env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
            )
        return proc, port

    def kill_one(self):
        k = self.kills % REPLICAS
        proc, _ = self.procs[k]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.procs[k] = self.start(k)
        self.kills += 1

    def stop(self):
        codes = []
        for proc, _ in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                codes.append(proc.wait(timeout=120))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append("killed")
        return codes

    def kill_all(self):
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def read_logs():
    """What the replicas' JSON logs say: cycles by cause, the reconcile's removals, warnings by message."""
    cycles, warnings, by_reconcile = collections.Counter(), collections.Counter(), 0
    for k in range(REPLICAS):
        for line in open(os.path.join(OUT, f"chaos-replica-{k}.log"), errors="replace"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = entry.get("message", "")
            if message == "reconcile cycle starting":
                cycles[f"ran_{entry.get('cause')}"] += 1
            elif message == "another replica runs or ran this reconcile cycle":
                cycles[f"covered_{entry.get('cause')}"] += 1
            elif message == "reconciled":
                by_reconcile += int(entry.get("deregistered", 0))
            if entry.get("level") in ("WARN", "ERROR"):
                warnings[message] += 1
    return dict(sorted(cycles.items())), by_reconcile, dict(warnings.most_common())


def depth(sqs, url):
    a = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def main():
    moto, started = Moto(), time.time()
    proxy = CountingProxy(moto.port)
    fleets = []
    try:
        result = run(moto, proxy, started, fleets.append)
    finally:
        for fleet in fleets:
            fleet.kill_all()
        proxy.close()
        moto.close()
    print(json.dumps(result, indent=2))
    write_result("chaos", result)


def run(moto, proxy, started, hold):
    kw = dict(
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sqs, sd, ec2, ddb = (boto3.client(n, **kw) for n in ("sqs", "servicediscovery", "ec2", "dynamodb"))
    table = "cloud-unmap-chaos"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    op = sd.create_http_namespace(Name="chaos")["OperationId"]
    ns = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    services = [sd.create_service(Name=f"s{k}", NamespaceId=ns)["Service"]["Id"] for k in range(3)]
    instances, total = [], TERMINATIONS + SILENT + 3 * LIVE_PER_SERVICE
    while len(instances) < total:
        n = min(500, total - len(instances))
        batch = ec2.run_instances(ImageId="ami-12c6146b", MinCount=n, MaxCount=n)["Instances"]
        instances += [(i["InstanceId"], i["PrivateIpAddress"]) for i in batch]
    for k, (iid, ip) in enumerate(instances):
        sd.register_instance(ServiceId=services[k % 3], InstanceId=iid, Attributes={"AWS_INSTANCE_IPV4": ip})
    dead = [iid for iid, _ in instances[:TERMINATIONS]]
    silent = [iid for iid, _ in instances[TERMINATIONS : TERMINATIONS + SILENT]]
    live = [iid for iid, _ in instances[TERMINATIONS + SILENT :]]
    gone = dead + silent

    def registered():
        return {
            i["Id"]
            for s in services
            for p in sd.get_paginator("list_instances").paginate(ServiceId=s)
            for i in p["Instances"]
        }

    dlq = sqs.create_queue(QueueName="chaos-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES})
    attributes = {"VisibilityTimeout": str(VISIBILITY), "RedrivePolicy": redrive}
    url = sqs.create_queue(QueueName="chaos", Attributes=attributes)["QueueUrl"]
    rnd = random.Random(24)
    bodies = [("dead", i) for i in dead] + [("silent", i) for i in silent]
    bodies += [("forged", rnd.choice(live)) for _ in range(FORGED)]
    bodies += [("garbage", f"{{not json {k}") for k in range(GARBAGE)]
    rnd.shuffle(bodies)

    fleet = Fleet(
        lambda port: (
            worker_args(["--namespace-id", ns], url, port, frequency=FREQUENCY, json_logs=True)
            + ["--state-table", table]
        ),
        aws_env(proxy.endpoint),
    )
    hold(fleet)
    for _, port in fleet.procs:
        wait_ready(port, limit=300)
    proxy.control(f"faults/{RATE}/{KINDS}")
    t0 = time.time()
    next_kill, next_reconcile, next_look, sent = t0 + KILL_EVERY, t0 + FREQUENCY, t0, 0
    last_termination, reconcile_messages = t0, 0
    # (seconds since t0, dead registrations left, healthy registrations left, queue depth), every 10 s
    timeline = []

    def tick():
        nonlocal next_kill, next_reconcile, next_look, reconcile_messages
        now = time.time()
        if now >= next_kill:
            fleet.kill_one()
            next_kill += KILL_EVERY
        if now >= next_reconcile:
            body = json.dumps({"cloud-unmap": "reconcile", "every": FREQUENCY})
            sqs.send_message(QueueUrl=url, MessageBody=body)
            reconcile_messages += 1
            next_reconcile += FREQUENCY
        if now >= next_look:
            left = registered()
            timeline.append(
                (round(now - t0), sum(1 for i in gone if i in left), sum(1 for i in live if i in left), depth(sqs, url))
            )
            next_look += 10

    per_tick = max(1, SEND_PER_S // 2)
    while sent < len(bodies):
        chunk = bodies[sent : sent + per_tick]
        victims = [i for kind, i in chunk if kind in ("dead", "silent")]
        if victims:
            ec2.terminate_instances(InstanceIds=victims)
            last_termination = time.time()
        entries = [
            {"Id": str(k), "MessageBody": i if kind == "garbage" else envelope(i, "terminated")}
            for k, (kind, i) in enumerate(chunk)
            if kind != "silent"
        ]
        if entries:
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        sent += len(chunk)
        tick()
        time.sleep(0.5)
    streamed = round(time.time() - t0, 1)
    # Faults and kills go on until 2 x the frequency after the last termination.
    while time.time() < last_termination + 2 * FREQUENCY:
        tick()
        time.sleep(0.5)
    left = registered()
    proxy.control("faults/0")
    stopped = time.time()
    # The queue settles without faults or kills (the last reconcile message, the messages of the last
    # killed replica, the garbage's way to the dead-letter queue).
    deadline, queue_left = stopped + SETTLE, None
    while time.time() < deadline:
        queue_left = depth(sqs, url)
        if queue_left == 0:
            break
        time.sleep(1)
    settled = round(time.time() - stopped, 1)
    in_dlq = []
    while True:
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", [])
        if not got:
            break
        in_dlq += [m["Body"] for m in got]
    after_settle = registered()
    calls = dict(sorted(proxy.counts.items()))
    faults = proxy.control("state")["faults"]
    codes = fleet.stop()
    cycles, by_reconcile, warnings = read_logs()
    valid_in_dlq = [b for b in in_dlq if not b.startswith("{not json")]
    dead_left = sum(1 for i in gone if i in left)
    cleared = next((t for t, d, _, _ in timeline if d == 0), None)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "binary": BIN,
        # Other work on the machine moves the times (not the outcomes): the 1-minute load at the end.
        "load_average_1m": round(os.getloadavg()[0], 2),
        "load": (
            f"{TERMINATIONS} terminations of live instances with their event and {SILENT} without, "
            f"{FORGED} forged terminations of running ones, "
            f"{GARBAGE} unreadable bodies, at {SEND_PER_S} msg/s; 3 services, {len(instances)} registrations"
        ),
        "faults": (
            f"{round(RATE * 100)} % of the replicas' AWS requests ({KINDS.replace(',', ', ')}, evenly); "
            f"one of {REPLICAS} replicas SIGKILLed "
            f"every {KILL_EVERY} s and restarted"
        ),
        "frequency_s": FREQUENCY,
        "setup_s": round(t0 - started, 1),
        "streamed_s": streamed,
        "faulted_s": round(stopped - t0, 1),
        "settled_s": settled,
        "replicas_killed": fleet.kills,
        "reconcile_messages": reconcile_messages,
        "faults_injected": dict(sorted(faults.items())),
        "faults_total": sum(faults.values()),
        "calls_total": sum(calls.values()),
        "messages_lost": {
            "queue_left": queue_left,
            "valid_in_dlq": len(valid_in_dlq),
            "garbage_in_dlq": len(in_dlq) - len(valid_in_dlq),
        },
        "valid_in_dlq_bodies": valid_in_dlq[:5],
        "healthy_removed": sum(1 for i in live if i not in after_settle),
        "dead_left_after_2x_frequency": dead_left,
        "silent_left_after_2x_frequency": sum(1 for i in silent if i in left),
        "dead_left_after_settle": sum(1 for i in gone if i in after_settle),
        "all_dead_gone_at_s": cleared,
        "last_termination_at_s": round(last_termination - t0, 1),
        "timeline_s_dead_healthy_queue": timeline,
        "calls": calls,
        "reconcile_cycles": cycles,
        "removed_by_reconcile": by_reconcile,
        "warnings": warnings,
        "exit_codes_on_sigterm": codes,
    }
    result["pass"] = (
        queue_left == 0
        and not valid_in_dlq
        and len(in_dlq) == GARBAGE
        and result["healthy_removed"] == 0
        and dead_left == 0
        and all(c == 0 for c in codes)
    )
    return result


if __name__ == "__main__":
    main()
