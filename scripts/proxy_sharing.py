"""Cloud Map namespaces shared through AWS RAM, as a consumer account sees them, for aws_proxy.py.

moto 5.2.5 knows no sharing: every namespace is its caller's. After POST /__proxy/shared/<ns-id>/<owner>,
the proxy answers as AWS answers the consumer (the Cloud Map API reference, "Cross-account Cloud Map
namespace sharing"):

- the namespace and its services carry the owner's account in their ARNs and in `ResourceOwner`;
- they must be addressed by ARN (`ServiceId`, `NamespaceId`, `Id`): a bare id answers ServiceNotFound /
  NamespaceNotFound, an ARN is translated to the id moto knows;
- ListServices' `RESOURCE_OWNER` filter (`SELF`, `OTHER_ACCOUNTS`) lists own or shared namespaces' services
  (applied whether or not anything is shared: moto ignores it);
- GetOperation of a shared namespace's operation needs `OwnerAccount` (recorded for the tests to read).
"""

import http.client
import json
import re

ARN = re.compile(r"^arn:aws:servicediscovery:([a-z0-9-]+):(\d{12}):(service|namespace)/([A-Za-z0-9-]+)$")
SELF_ACCOUNT = "123456789012"  # moto's account
shared = {}  # namespace id -> owner account
namespace_of = {}  # service id -> namespace id (learned from moto)
owner_accounts = []  # OwnerAccount of every GetOperation


def share(namespace_id, owner):
    shared[namespace_id] = owner


def upstream_get(upstream, headers, target, body):
    conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
    h = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "host", "connection")}
    h["X-Amz-Target"] = "Route53AutoNaming_v20170314." + target
    conn.request("POST", "/", body=json.dumps(body), headers=h)
    got = json.loads(conn.getresponse().read() or b"{}")
    conn.close()
    return got


def namespace_of_service(upstream, headers, service_id):
    if service_id not in namespace_of:
        got = upstream_get(upstream, headers, "GetService", {"Id": service_id})
        namespace_of[service_id] = got.get("Service", {}).get("NamespaceId")
    return namespace_of[service_id]


def owner_of(upstream, headers, kind, rid):
    """The owner account of a service or namespace id (moto's account unless shared)."""
    ns = rid if kind == "namespace" else namespace_of_service(upstream, headers, rid)
    return shared.get(ns, SELF_ACCOUNT)


def not_found(kind, rid):
    code = "ServiceNotFound" if kind == "service" else "NamespaceNotFound"
    return json.dumps({"__type": code, "Message": f"{kind} {rid} not found"}).encode()


def unshare(value):
    m = ARN.match(value)
    if m:
        return m.group(4) if shared.get(m.group(4), SELF_ACCOUNT) == m.group(2) else "ns-none"
    return "ns-none" if value in shared else value


def rewrite_request(upstream, headers, op, body):
    """Translates ARNs to ids; returns (body, None) or (None, error answer) as AWS would refuse."""
    if not shared or not headers.get("X-Amz-Target", "").startswith("Route53AutoNaming"):
        return body, None
    req = json.loads(body or b"{}")
    if op == "GetOperation":
        owner_accounts.append(req.get("OwnerAccount"))
    fields = {"ServiceId": "service", "NamespaceId": "namespace"}
    if op in ("GetService", "GetNamespace"):
        fields["Id"] = "service" if op == "GetService" else "namespace"
    tagged = ARN.match(req.get("ResourceARN") or "")
    if op == "ListTagsForResource" and tagged:
        _, account, kind, rid = tagged.groups()
        if owner_of(upstream, headers, kind, rid) != account:
            return None, json.dumps({"__type": "ResourceNotFoundException", "Message": "not found"}).encode()
        req["ResourceARN"] = owned_arn(req["ResourceARN"], SELF_ACCOUNT)
    for field, kind in fields.items():
        value = req.get(field)
        if not isinstance(value, str):
            continue
        m = ARN.match(value)
        if m:
            _, account, arn_kind, rid = m.groups()
            if arn_kind != kind or owner_of(upstream, headers, kind, rid) != account:
                return None, not_found(kind, value)
            req[field] = rid
        elif owner_of(upstream, headers, kind, value) != SELF_ACCOUNT:
            return None, not_found(kind, value)  # a shared resource must be named by its ARN
    for f in req.get("Filters", []):
        if f.get("Name") == "NAMESPACE_ID":
            # An ARN names the namespace; a shared namespace's bare id matches nothing of the caller's.
            f["Values"] = [unshare(v) for v in f["Values"]]
    return json.dumps(req).encode(), None


def owned_arn(arn, owner):
    return re.sub(r":\d{12}:", f":{owner}:", arn, count=1)


def rewrite_answer(upstream, headers, op, request, data):
    """Puts the owner's account in shared resources' ARNs and applies the RESOURCE_OWNER filter."""
    if op not in ("ListServices", "GetService", "GetNamespace") or (not shared and op != "ListServices"):
        return data
    answer = json.loads(data)
    if op == "ListServices":
        wanted = [
            f["Values"][0] for f in json.loads(request or b"{}").get("Filters", []) if f["Name"] == "RESOURCE_OWNER"
        ]
        kept = []
        for s in answer.get("Services", []):
            owner = owner_of(upstream, headers, "service", s["Id"])
            s["Arn"], s["ResourceOwner"] = owned_arn(s["Arn"], owner), owner
            mine = owner == SELF_ACCOUNT
            if not wanted or (wanted[0] == "SELF") == mine:
                kept.append(s)
        answer["Services"] = kept
    else:
        key = "Service" if op == "GetService" else "Namespace"
        item = answer.get(key)
        if item:
            kind = "service" if op == "GetService" else "namespace"
            owner = owner_of(upstream, headers, kind, item["Id"])
            item["Arn"], item["ResourceOwner"] = owned_arn(item["Arn"], owner), owner
    return json.dumps(answer).encode()
