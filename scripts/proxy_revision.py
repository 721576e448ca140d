"""Cloud Map's DiscoverInstancesRevision as AWS answers it, for scripts/aws_proxy.py: a revision that
increases whenever the service's instances changed since the last ask. moto sums its instances'
revisions, which returns to an earlier value when one instance leaves and another arrives."""

import http.client
import json
import threading

lock = threading.Lock()
# (namespace name, service name) -> (instances last seen, revision)
seen = {}


def answer(upstream, request, headers):
    """(status, body) for a DiscoverInstancesRevision request: moto's DiscoverInstances answer (ids and
    attributes) compared with the last ask's; a new revision when it differs."""
    asked = json.loads(request or b"{}")
    conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
    get = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    get["X-Amz-Target"] = "Route53AutoNaming_v20170314.DiscoverInstances"
    query = {k: asked[k] for k in ("NamespaceName", "ServiceName") if k in asked}
    conn.request("POST", "/", body=json.dumps({**query, "MaxResults": 1000}), headers=get)
    resp = conn.getresponse()
    found = resp.read()
    conn.close()
    if resp.status != 200:
        return resp.status, found
    now = sorted(
        (i["InstanceId"], sorted(i.get("Attributes", {}).items())) for i in json.loads(found).get("Instances", [])
    )
    key = (asked.get("NamespaceName"), asked.get("ServiceName"))
    with lock:
        last, revision = seen.get(key, (None, 0))
        if now != last:
            revision += 1
        seen[key] = (now, revision)
    return 200, json.dumps({"InstancesRevision": revision}).encode()
