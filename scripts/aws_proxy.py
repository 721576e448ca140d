"""A loopback HTTP proxy in front of moto for the integration tests.

    aws_proxy.py UPSTREAM_PORT      prints its own port; stops when stdin closes

- forwards every AWS request to moto on 127.0.0.1:UPSTREAM_PORT and counts it by operation;
- answers Auto Scaling's CompleteLifecycleAction and RecordLifecycleActionHeartbeat itself (moto 5.2.5
  implements neither) as AWS does: a token already completed answers ValidationError "No active
  Lifecycle Action found"; every call is recorded with its parameters, time and answer;
- POST /__proxy/terminating/<instance-id>: DescribeAutoScalingInstances shows that instance
  "Terminating:Wait", as AWS does once a terminate lifecycle action started (moto never leaves InService);
- POST /__proxy/detaching/<instance-id>/<n>: after moto stops listing that instance in DescribeAutoScalingInstances
  (moto detaches at once), the next n answers still list it "Detaching", as AWS does while DetachInstances
  is under way (a load balancer's deregistration delay); GET /__proxy/state's "detaching_shown" counts them;
- POST /__proxy/slow/<ms>: every AWS request is answered that much later (a slow endpoint);
- with PROXY_TRACE=<file> in its environment, appends one line per AWS request to that file: when it
  arrived and was answered (epoch seconds), its operation and the start of its body (a timeline for
  finding where an event's time goes: bench/README.md);
- POST /__proxy/hide/<instance-id>/<n>: the next n DescribeInstances answers leave that instance out (EC2's
  eventual consistency: a new instance can be missing from DescribeInstances for a while);
- POST /__proxy/state-name/<instance-id>/<name>: DescribeInstances reports that state name for it (an answer
  cloud-unmap cannot read);
- applies ListServices' NAMESPACE_ID filter, which moto ignores (AWS lists only that namespace's services);
- POST /__proxy/hold/<Action>/<seconds>[/<text>]: the next such request (with <text>: the next whose body
  names it, e.g. an instance id, so events of concurrent tests on the shared bus do not take the hold) is
  forwarded at once, but its answer is held back that long (a caller that read the world, then stalls
  before acting on it); GET /__proxy/state's "held" counts the answers held so far;
- POST /__proxy/outage/on drops every AWS connection without an answer (an endpoint outage) until
  POST /__proxy/outage/off; GET /__proxy/state returns {"counts": …, "lifecycle_actions": […], "heartbeats": […]};
- POST /__proxy/fail/<Action> answers that EC2 query action with a non-retryable error from then on.
- POST /__proxy/deny/<Action> answers that action (and the calls its IAM action authorizes: SQS's batch
  DeleteMessageBatch and ChangeMessageVisibilityBatch for DeleteMessage and ChangeMessageVisibility) with
  AccessDenied from then on, in the protocol's shape
  (query XML `ErrorResponse` with HTTP 403; JSON `AccessDeniedException` with SQS's `x-amzn-query-error`
  header), as AWS answers a call the caller's policies do not allow.
- POST /__proxy/deny-role-account/<account-id> answers AssumeRole on any role of that account with AccessDenied
  (a role that does not exist there yet, or does not trust the caller: AWS answers both alike);
- POST /__proxy/shared/<namespace-id>/<owner-account>: that namespace is shared with the caller through AWS
  RAM by another account, and answered as AWS answers a consumer (see proxy_sharing.py);
- POST /__proxy/scheduled/<instance-id>/<code>/<epoch-seconds>: DescribeInstanceStatus reports that scheduled
  event (NotBefore at that time) for the instance, as EC2 reports a retirement or maintenance (moto reports
  none), with a new InstanceEventId; POST /__proxy/scheduled-move/<id>/<epoch-seconds> moves its NotBefore and
  keeps its InstanceEventId (as ModifyInstanceEventStartTime does); POST /__proxy/scheduled-cancel/<id> and
  scheduled-complete/<id> mark it "[Canceled]"/"[Completed]";
- POST /__proxy/faults/<rate> (0 to 1): that share of AWS requests meets a fault, chosen evenly from:
  connection dropped, 2 s delay, HTTP 500, HTTP 503, and throttling in the protocol's own shape (EC2's
  query-XML RequestLimitExceeded; a JSON ThrottlingException for Cloud Map, SQS and the others).
  POST /__proxy/faults/<rate>/<kind,kind…> chooses among those kinds instead (drop, delay, 500, 503,
  throttle, and lost: the request reaches moto and is done, but the connection drops before the answer, as
  an answer lost on the way back from AWS). GET /__proxy/state also returns "faults": counts by kind.
- POST /__proxy/lose/<Action>/<n>: the next n such requests are done by moto, then their connection
  drops without an answer (the caller cannot tell a done request from one never made);
- GET /__proxy/state also returns "by_target": counts by "operation region access-key" (the caller's
  account and region, from the request's SigV4 credential scope), and "peak_per_second": each operation's
  highest number of requests begun within any one second (a sliding window; POST /__proxy/peaks/reset
  starts them again);
- GET /__proxy/state also returns "per_second": each operation's requests by wall-clock second (epoch);
- GET /__proxy/state also returns "upstream_s": the seconds during which moto had at least one forwarded
  request to answer (its busy time: the floor under the wall time of the calls made);
- enforces Cloud Map's RegisterInstance rule for AWS_EC2_INSTANCE_ID and fills AWS_INSTANCE_IPV4 as AWS
  does (see proxy_register.py); GET /__proxy/state's "register_refused" lists the refusals;
- answers Cloud Map's DiscoverInstancesRevision as AWS does: a revision that increases whenever the
  service's instances changed since the last ask (moto sums its instances' revisions, which returns to
  an earlier value when one instance leaves and another arrives); hooks' GlobalTimeout: proxy_hooks.py.
- faults aimed at one account or one Cloud Map service, and DuplicateRequest: see proxy_targeted.py.
"""

import collections
import http.client
import http.server
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid
from xml.etree import ElementTree

import proxy_hooks as hooks
import proxy_register as register_rule
import proxy_revision as revisions
import proxy_sharing as sharing
import proxy_targeted as targeted

upstream = int(sys.argv[1])
lock = threading.Lock()
state = {
    "outage": False,
    "counts": collections.Counter(),
    "by_target": collections.Counter(),
    "recent": collections.defaultdict(collections.deque),
    "peak_per_second": collections.Counter(),
    "per_second": collections.defaultdict(collections.Counter),
    "lifecycle_actions": [],
    "heartbeats": [],
    "completed": set(),
    "terminating": set(),
    "detaching": {},  # instance id -> [answers left to show it Detaching, its last listed <member> block]
    "detaching_shown": 0,
    "hold": {},
    "held": 0,
    "hide": {},
    "upstream_s": 0.0,
    "inflight": 0,
    "busy_since": 0.0,
    "slow": 0.0,
    "state_names": {},
    "fail": set(),
    "deny": set(),
    "deny_role_accounts": set(),
    "scheduled": {},
    "rate": 0.0,
    "faults": collections.Counter(),
}
rnd = random.Random(11)
FAULTS = ["drop", "delay", "500", "503", "throttle"]
state["kinds"] = FAULTS
state["lose"] = {}

INJECTED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InvalidParameterCombination</Code>'
    b"<Message>failure injected by the test proxy</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
)


def lifecycle_ok(op):
    return (
        f'<{op}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
        f"<{op}Result/><ResponseMetadata><RequestId>proxy</RequestId>"
        f"</ResponseMetadata></{op}Response>"
    ).encode()


def lifecycle_gone(token):
    return (
        '<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type>'
        f"<Code>ValidationError</Code><Message>No active Lifecycle Action found with token {token}</Message>"
        "</Error><RequestId>proxy</RequestId></ErrorResponse>"
    ).encode()


def filter_services(request, data, headers):
    """Applies ListServices' NAMESPACE_ID filter, which moto ignores: AWS lists only that namespace's
    services (none for a namespace that does not exist)."""
    wanted = [f["Values"] for f in json.loads(request or b"{}").get("Filters", []) if f.get("Name") == "NAMESPACE_ID"]
    if not wanted:
        return data
    answer = json.loads(data)
    kept = []
    for service in answer.get("Services", []):
        conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        get = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        get["X-Amz-Target"] = "Route53AutoNaming_v20170314.GetService"
        conn.request("POST", "/", body=json.dumps({"Id": service["Id"]}), headers=get)
        got = json.loads(conn.getresponse().read())
        conn.close()
        if got.get("Service", {}).get("NamespaceId") in wanted[0]:
            kept.append(service)
    answer["Services"] = kept
    return json.dumps(answer).encode()


def add_scheduled_events(data):
    """Adds the scheduled events of the `scheduled` control to a DescribeInstanceStatus answer."""
    with lock:
        scheduled = {i: list(ev) for i, ev in state["scheduled"].items()}
    text = data.decode()
    for instance, (code, epoch, description, event_id) in scheduled.items():
        when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))
        events = (
            f"<eventsSet><item><instanceEventId>{event_id}</instanceEventId><code>{code}</code>"
            f"<description>{description}</description><notBefore>{when}</notBefore></item></eventsSet>"
        )
        text = text.replace(f"<instanceId>{instance}</instanceId>", f"<instanceId>{instance}</instanceId>{events}")
    return text.encode()


def scheduled_control(path):
    """The scheduled-event controls (lock held): an event as EC2 describes it, canceled or completed."""
    parts = path.split("/")
    if parts[2] == "scheduled":
        _, _, _, instance, code, epoch = parts
        what = {"instance-retirement": "retirement", "instance-stop": "stop"}.get(code, "reboot")
        event_id = f"instance-event-{uuid.uuid4().hex[:17]}"
        state["scheduled"][instance] = [code, float(epoch), f"The instance is scheduled for {what}", event_id]
    elif parts[2] == "scheduled-move":
        # ModifyInstanceEventStartTime: the same event (same InstanceEventId), a new NotBefore.
        state["scheduled"][parts[3]][1] = float(parts[4])
    elif parts[2] == "scheduled-cancel":
        ev = state["scheduled"][parts[3]]
        ev[2] = "[Canceled] " + ev[2]
    elif parts[2] == "scheduled-complete":
        ev = state["scheduled"][parts[3]]
        ev[2] = "[Completed] " + ev[2]


def edit_instances(data):
    """Applies the hide and state-name controls to a DescribeInstances answer."""
    with lock:
        hide = {i for i, n in state["hide"].items() if n > 0}
        names = dict(state["state_names"])
        for i in hide:
            state["hide"][i] -= 1
    if not hide and not names:
        return data
    root = ElementTree.fromstring(data)
    ns = root.tag.split("}")[0].strip("{")
    q = lambda *path: "/".join(f"{{{ns}}}{p}" for p in path)  # noqa: E731
    for rset in root.findall(q("reservationSet")):
        for reservation in list(rset):
            instances = reservation.find(q("instancesSet"))
            for inst in list(instances if instances is not None else []):
                iid = inst.findtext(q("instanceId"))
                if iid in hide:
                    instances.remove(inst)
                elif iid in names:
                    inst.find(q("instanceState", "name")).text = names[iid]
            if instances is not None and len(instances) == 0:
                rset.remove(reservation)
    ElementTree.register_namespace("", ns)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def mark_terminating(data, ids):
    """Rewrites moto's DescribeAutoScalingInstances answer: the given instances are Terminating:Wait."""
    text = data.decode()

    def member(m):
        block = m.group(0)
        found = re.search(r"<InstanceId>([^<]+)</InstanceId>", block)
        if found and found.group(1) in ids:
            block = re.sub(
                r"<LifecycleState>[^<]*</LifecycleState>", "<LifecycleState>Terminating:Wait</LifecycleState>", block
            )
        return block

    return re.sub(r"<member>.*?</member>", member, text, flags=re.S).encode()


def still_detaching(data):
    """Rewrites moto's DescribeAutoScalingInstances answer: an instance under `detaching` that moto no
    longer lists is listed "Detaching" (its last listed member block) while answers are left to show it."""
    text = data.decode()
    with lock:
        for iid, entry in state["detaching"].items():
            found = re.search(
                r"<member>(?:(?!</member>).)*?<InstanceId>" + re.escape(iid) + r"</InstanceId>.*?</member>", text, re.S
            )
            if found:
                entry[1] = found.group(0)
                continue
            if entry[0] <= 0 or entry[1] is None:
                continue
            entry[0] -= 1
            state["detaching_shown"] += 1
            block = re.sub(
                r"<LifecycleState>[^<]*</LifecycleState>", "<LifecycleState>Detaching</LifecycleState>", entry[1]
            )
            if "<AutoScalingInstances>" in text:
                text = text.replace("<AutoScalingInstances>", "<AutoScalingInstances>" + block, 1)
            elif "<AutoScalingInstances/>" in text:
                text = text.replace(
                    "<AutoScalingInstances/>", f"<AutoScalingInstances>{block}</AutoScalingInstances>", 1
                )
            else:
                text = text.replace(
                    "<DescribeAutoScalingInstancesResult>",
                    f"<DescribeAutoScalingInstancesResult><AutoScalingInstances>{block}</AutoScalingInstances>",
                    1,
                )
    return text.encode()


# The IAM action that authorizes an operation, where it is not the operation's own name (a batch call is
# allowed or denied as a whole by its single call's action).
IAM_ACTION = {"DeleteMessageBatch": "DeleteMessage", "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def caller(headers):
    """(region, access key) of a SigV4-signed request: `Credential=AKID/date/region/service/aws4_request`."""
    m = re.search(r"Credential=([^/]+)/[^/]+/([^/]+)/", headers.get("Authorization") or "")
    return (m.group(2), m.group(1)) if m else ("?", "?")


def count(op, headers):
    """Counts a request by operation, by caller, and in its operation's one-second window (lock held)."""
    state["counts"][op] += 1
    region, key = caller(headers)
    state["by_target"][f"{op} {region} {key}"] += 1
    now = time.perf_counter()
    window = state["recent"][op]
    window.append(now)
    while window and window[0] <= now - 1.0:
        window.popleft()
    state["peak_per_second"][op] = max(state["peak_per_second"][op], len(window))


def operation(headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return target.split(".")[-1]
    form = urllib.parse.parse_qs(body.decode(errors="replace"))
    return form.get("Action", ["other"])[0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the body waits for the client's
    # delayed ACK (40 ms on Linux), a stall AWS's endpoints do not add.
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="application/json"):
        if getattr(self, "lost", False):
            # The proxy answered for AWS (lifecycle actions, revisions): that answer is lost too.
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def deny(self, op):
        message = f"User: arn:aws:sts::123456789012:assumed-role/test/proxy is not authorized to perform: {op}"
        if self.headers.get("X-Amz-Target"):
            body = json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException", "message": message})
            self.send_response(400)
            # Only SQS (awsQueryCompatible) sends its query-protocol code alongside; Organizations,
            # Cloud Map, DynamoDB and EventBridge answer AccessDeniedException alone.
            if self.headers.get("X-Amz-Target", "").startswith("AmazonSQS"):
                self.send_header("x-amzn-query-error", "AccessDenied;Sender")
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())
            return
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
        ).encode()
        self.reply(403, body, "text/xml")

    def control(self):
        with lock:
            if targeted.control(self.path):
                pass
            elif self.path == "/__proxy/outage/on":
                state["outage"] = True
            elif self.path == "/__proxy/outage/off":
                state["outage"] = False
            elif self.path == "/__proxy/peaks/reset":
                state["peak_per_second"].clear()
                state["recent"].clear()
            elif self.path.startswith("/__proxy/fail/"):
                state["fail"].add(self.path.rsplit("/", 1)[-1])
            elif self.path.startswith("/__proxy/shared/"):
                _, _, _, namespace, owner = self.path.split("/")
                sharing.share(namespace, owner)
            elif self.path.startswith("/__proxy/scheduled"):
                scheduled_control(self.path)
            elif self.path.startswith("/__proxy/deny/"):
                state["deny"].add(self.path.rsplit("/", 1)[-1])
            elif self.path.startswith("/__proxy/deny-role-account/"):
                state["deny_role_accounts"].add(self.path.rsplit("/", 1)[-1])
            elif self.path.startswith("/__proxy/faults/"):
                _, _, _, rate, *kinds = self.path.split("/")
                state["rate"] = float(rate)
                state["kinds"] = kinds[0].split(",") if kinds else FAULTS
            elif self.path.startswith("/__proxy/lose/"):
                _, _, _, action, n = self.path.split("/")
                state["lose"][action] = int(n)
            elif self.path.startswith("/__proxy/terminating/"):
                state["terminating"].add(self.path.rsplit("/", 1)[-1])
            elif self.path.startswith("/__proxy/detaching/"):
                _, _, _, instance, n = self.path.split("/")
                state["detaching"][instance] = [int(n), None]
            elif self.path.startswith("/__proxy/slow/"):
                state["slow"] = float(self.path.rsplit("/", 1)[-1]) / 1000
            elif self.path.startswith("/__proxy/hide/"):
                _, _, _, instance, n = self.path.split("/")
                state["hide"][instance] = int(n)
            elif self.path.startswith("/__proxy/state-name/"):
                _, _, _, instance, name = self.path.split("/")
                state["state_names"][instance] = name
            elif self.path.startswith("/__proxy/hold/"):
                _, _, _, action, seconds, *text = self.path.split("/")
                state["hold"][action] = (float(seconds), text[0] if text else None)
            body = json.dumps(
                {
                    "outage": state["outage"],
                    "counts": state["counts"],
                    "by_target": state["by_target"],
                    "peak_per_second": state["peak_per_second"],
                    "held": state["held"],
                    "per_second": {op: {str(t): n for t, n in c.items()} for op, c in state["per_second"].items()},
                    "lifecycle_actions": state["lifecycle_actions"],
                    "heartbeats": state["heartbeats"],
                    "faults": state["faults"],
                    "owner_accounts": sharing.owner_accounts,
                    "register_refused": register_rule.refused,
                    "upstream_s": state["upstream_s"],
                    "detaching_shown": state["detaching_shown"],
                    "targeted": targeted.state(),
                }
            ).encode()
        self.reply(200, body)

    def do_POST(self):
        t0 = time.time()
        try:
            return self._do_post()
        finally:
            if os.environ.get("PROXY_TRACE") and not self.path.startswith("/__proxy/"):
                with open(os.environ["PROXY_TRACE"], "a") as f:
                    f.write(f"{t0:.4f} {time.time():.4f} {getattr(self, 'traced', '?')}\n")

    def _do_post(self):
        if self.path.startswith("/__proxy/"):
            return self.control()
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        with lock:
            outage = state["outage"]
        if outage:
            self.close_connection = True
            self.connection.close()
            return
        op = operation(self.headers, body)
        self.traced = f"{op} {body[:300]!r}"
        with lock:
            count(op, self.headers)
            state["per_second"][op][int(time.time())] += 1
            fault = rnd.choice(state["kinds"]) if rnd.random() < state["rate"] else None
            if fault:
                state["faults"][fault] += 1
            if not fault and state["lose"].get(op, 0) > 0:
                state["lose"][op] -= 1
                fault = "lost"
        self.lost = fault == "lost"
        if fault == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if fault == "delay":
            time.sleep(2)
        elif fault in ("500", "503"):
            return self.reply(int(fault), b"injected", "text/plain")
        elif fault == "throttle":
            if self.headers.get("X-Amz-Target"):
                return self.reply(
                    400,
                    json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode(),
                    "application/x-amz-json-1.1",
                )
            return self.reply(
                503,
                b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded'
                b"</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>p</RequestID></Response>",
                "text/xml",
            )
        with lock:
            fail = op in state["fail"]
            deny = op in state["deny"] or IAM_ACTION.get(op) in state["deny"]
            if op == "AssumeRole" and state["deny_role_accounts"]:
                form = urllib.parse.parse_qs(body.decode(errors="replace"))
                arn = form.get("RoleArn", [""])[0]
                deny = deny or any(f"::{a}:" in arn for a in state["deny_role_accounts"])
            slow = state["slow"]
        if slow:
            time.sleep(slow)
        if fail:
            return self.reply(400, INJECTED, "text/xml")
        if deny:
            return self.deny(op)
        if targeted.intercept(self, upstream, op, body):
            return
        if op in ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat"):
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
            token = form.get("LifecycleActionToken", "")
            with lock:
                active = token not in state["completed"]
                if op == "CompleteLifecycleAction":
                    state["completed"].add(token)
                form["at"] = time.time()
                form["answer"] = "ok" if active else "gone"
                state["lifecycle_actions" if op == "CompleteLifecycleAction" else "heartbeats"].append(form)
            if not active:
                return self.reply(400, lifecycle_gone(token), "text/xml")
            return self.reply(200, lifecycle_ok(op), "text/xml")
        if op == "DiscoverInstancesRevision":
            status, answer = revisions.answer(upstream, body, self.headers)
            return self.reply(status, answer, "application/x-amz-json-1.1")
        body, refused = sharing.rewrite_request(upstream, self.headers, op, body)
        if op == "RegisterInstance" and not refused:
            body, refused = register_rule.rewrite(upstream, self.headers, body)
        if refused:
            return self.reply(400, refused, "application/x-amz-json-1.1")
        conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
        headers["Content-Length"] = str(len(body))
        with lock:
            state["inflight"] += 1
            if state["inflight"] == 1:
                state["busy_since"] = time.perf_counter()
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if fault == "lost":
            with lock:
                state["inflight"] -= 1
                if state["inflight"] == 0:
                    state["upstream_s"] += time.perf_counter() - state["busy_since"]
            conn.close()
            self.close_connection = True
            self.connection.close()
            return
        with lock:
            state["inflight"] -= 1
            if state["inflight"] == 0:
                state["upstream_s"] += time.perf_counter() - state["busy_since"]
            hold, text = state["hold"].get(op, (0, None))
            if hold and (text is None or text.encode() in body):
                del state["hold"][op]
                state["held"] += 1
            else:
                hold = 0
            terminating = set(state["terminating"])
        if hold:
            time.sleep(hold)
        if op == "DescribeAutoScalingInstances" and terminating:
            data = mark_terminating(data, terminating)
        if op == "DescribeAutoScalingInstances" and resp.status == 200 and state["detaching"]:
            data = still_detaching(data)
        if op == "DescribeInstances" and resp.status == 200:
            data = edit_instances(data)
        if op == "DescribeInstanceStatus" and resp.status == 200:
            data = add_scheduled_events(data)
        data = hooks.global_timeouts(data) if op == "DescribeLifecycleHooks" and resp.status == 200 else data
        if op == "ListServices" and resp.status == 200:
            data = filter_services(body, data, headers)
        if resp.status == 200:
            data = sharing.rewrite_answer(upstream, headers, op, body, data)
            targeted.learn(op, body, data)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A caller killed mid-request (the chaos benchmark's SIGKILL) is no error of the proxy's.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


server = Server(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_address[1], flush=True)
sys.stdin.read()
server.shutdown()
