"""Faults aimed at one account or one Cloud Map service, and Cloud Map's DuplicateRequest, for
aws_proxy.py (moto models none of them):

- POST /__proxy/deny-account/<account>/<Action>: that account's calls of that action answer AccessDenied,
  as AWS answers a role whose policy (or an SCP) does not allow it. A request's account is read from the
  access key that signed it: the home account's unless the key came from an AssumeRole answer (the role's
  account, learned as the answer passes through).
- POST /__proxy/throttle-account/<account>: every call signed by that account is throttled, in the
  protocol's shape (EC2's query-XML RequestLimitExceeded with HTTP 503; JSON ThrottlingException), as
  AWS throttles one account whose request rate is exhausted while the others' are not.
- POST /__proxy/deny-service/<service-id>: every Cloud Map call naming that service (ListInstances,
  GetService, GetInstance, DeregisterInstance…) answers AccessDenied, as an IAM policy scoped to other
  services' ARNs does.
- POST /__proxy/duplicate-once/<instance-id>: the next DeregisterInstance of that instance meets another
  operation on it in progress: the proxy makes that other operation itself (it forwards the
  deregistration to moto) and answers DuplicateRequest with the operation's id in DuplicateOperationId,
  as the Cloud Map API reference documents ("The operation is already in progress").
- POST /__proxy/lose-once/<instance-id>: the next DeregisterInstance of that instance is applied (forwarded
  to moto) but its answer is lost: the connection closes without one, as when a response is lost on the way
  back. The SDK's retry then meets the registration gone (InstanceNotFound), as on AWS, where
  DeregisterInstance takes no idempotency token.
- GET /__proxy/state also returns "targeted": counts of the answers given here, by kind.
"""

import collections
import http.client
import json
import re
import threading
import urllib.parse

HOME = "123456789012"
lock = threading.Lock()
keys = {}  # access key id -> account id
deny_account = set()  # (account, action)
throttled = set()
denied_services = set()
duplicate_once = set()
lose_once = set()
counts = collections.Counter()


def control(path):
    """Applies a control path; returns whether it was one of these."""
    parts = path.split("/")[2:]
    with lock:
        if parts[0] == "deny-account":
            deny_account.add((parts[1], parts[2]))
        elif parts[0] == "throttle-account":
            throttled.add(parts[1])
        elif parts[0] == "deny-service":
            denied_services.add(parts[1])
        elif parts[0] == "duplicate-once":
            duplicate_once.add(parts[1])
        elif parts[0] == "lose-once":
            lose_once.add(parts[1])
        else:
            return False
    return True


def account_of(headers):
    found = re.search(r"Credential=([^/]+)/", headers.get("Authorization", ""))
    with lock:
        return keys.get(found.group(1), HOME) if found else HOME


def learn(op, body, data):
    """Remembers which account an AssumeRole answer's access key acts in."""
    if op != "AssumeRole":
        return
    role = urllib.parse.parse_qs(body.decode(errors="replace")).get("RoleArn", [""])[0]
    key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", data)
    if key and role.count(":") >= 4:
        with lock:
            keys[key.group(1).decode()] = role.split(":")[4]


def throttle(handler):
    if handler.headers.get("X-Amz-Target"):
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        return handler.reply(400, body, "application/x-amz-json-1.1")
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
        b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>p</RequestID></Response>"
    )
    return handler.reply(503, body, "text/xml")


def duplicate(handler, upstream, body):
    """Forwards the deregistration (the other caller's operation), answers DuplicateRequest with its id."""
    conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
    conn.request("POST", "/", body=body, headers=headers)
    answer = json.loads(conn.getresponse().read() or b"{}")
    conn.close()
    error = {
        "__type": "DuplicateRequest",
        "Message": "The operation is already in progress.",
        "DuplicateOperationId": answer.get("OperationId", ""),
    }
    handler.reply(400, json.dumps(error).encode(), "application/x-amz-json-1.1")


def lose(handler, upstream, body):
    """Forwards the deregistration and closes the connection without its answer."""
    conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
    conn.request("POST", "/", body=body, headers=headers)
    conn.getresponse().read()
    conn.close()
    handler.close_connection = True
    handler.connection.close()


def intercept(handler, upstream, op, body):
    """Answers the request here if a control says so; returns whether it did."""
    account = account_of(handler.headers)
    request = json.loads(body or b"{}") if handler.headers.get("X-Amz-Target", "").startswith("Route53") else {}
    with lock:
        kind = None
        if account in throttled:
            kind = "throttled"
        elif (account, op) in deny_account:
            kind = "denied_account"
        elif denied_services & {request.get("ServiceId"), request.get("Id")}:
            kind = "denied_service"
        elif op == "DeregisterInstance" and request.get("InstanceId") in duplicate_once:
            duplicate_once.discard(request.get("InstanceId"))
            kind = "duplicate"
        elif op == "DeregisterInstance" and request.get("InstanceId") in lose_once:
            lose_once.discard(request.get("InstanceId"))
            kind = "lost"
        if kind:
            counts[kind] += 1
    if kind == "throttled":
        throttle(handler)
    elif kind in ("denied_account", "denied_service"):
        handler.deny(op)
    elif kind == "duplicate":
        duplicate(handler, upstream, body)
    elif kind == "lost":
        lose(handler, upstream, body)
    return kind is not None


def state():
    with lock:
        return dict(counts)
