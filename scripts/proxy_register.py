"""Cloud Map's RegisterInstance rule for registrations by EC2 instance id, for aws_proxy.py.

moto 5.2.5 stores whatever attributes it is given. AWS (Cloud Map API reference, RegisterInstance,
`Attributes`): "If the AWS_EC2_INSTANCE_ID attribute is specified, then the only other attribute that can
be specified is AWS_INIT_HEALTH_STATUS. When the AWS_EC2_INSTANCE_ID attribute is specified, then the
AWS_INSTANCE_IPV4 attribute will be filled out with the primary private IPv4 address." So:

- a RegisterInstance carrying AWS_EC2_INSTANCE_ID and any attribute but AWS_INIT_HEALTH_STATUS is refused
  with InvalidInput (HTTP 400, Cloud Map's code for attributes it does not accept), and recorded;
- an accepted one reaches moto with AWS_INSTANCE_IPV4 set to the instance's primary private address
  (DescribeInstances in the caller's account and region), as Cloud Map fills it.
"""

import http.client
import json
import urllib.parse
from xml.etree import ElementTree

EC2_ID = "AWS_EC2_INSTANCE_ID"
ALLOWED_BESIDE = {EC2_ID, "AWS_INIT_HEALTH_STATUS"}
refused = []  # {"InstanceId", "ServiceId", "extra": [...]} of every refusal


def primary_ipv4(upstream, headers, instance_id):
    """The instance's primary private IPv4 address as moto's EC2 holds it, or None."""
    dropped = ("content-length", "host", "connection", "x-amz-target", "content-type")
    h = {k.lower(): v for k, v in headers.items() if k.lower() not in dropped}
    # moto's server routes by the credential scope of the signature: ask its EC2, same account and region.
    h["authorization"] = h.get("authorization", "").replace("/servicediscovery/", "/ec2/")
    h["content-type"] = "application/x-www-form-urlencoded"
    body = urllib.parse.urlencode({"Action": "DescribeInstances", "Version": "2016-11-15", "InstanceId.1": instance_id})
    conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
    conn.request("POST", "/", body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 200:
        return None
    root = ElementTree.fromstring(data)
    ns = root.tag.split("}")[0].strip("{")
    path = "/".join(f"{{{ns}}}{p}" for p in ("reservationSet", "item", "instancesSet", "item", "privateIpAddress"))
    return root.findtext(path)


def rewrite(upstream, headers, body):
    """(body to forward, refusal body or None) for a RegisterInstance request."""
    request = json.loads(body or b"{}")
    attributes = request.get("Attributes", {})
    if EC2_ID not in attributes:
        return body, None
    extra = sorted(set(attributes) - ALLOWED_BESIDE)
    if extra:
        refused.append({"InstanceId": request.get("InstanceId"), "ServiceId": request.get("ServiceId"), "extra": extra})
        message = (
            f"Invalid attributes {', '.join(extra)}: when AWS_EC2_INSTANCE_ID is specified, "
            "the only other attribute that can be specified is AWS_INIT_HEALTH_STATUS"
        )
        return body, json.dumps({"__type": "InvalidInput", "Message": message}).encode()
    ip = primary_ipv4(upstream, headers, attributes[EC2_ID])
    if ip:
        request["Attributes"] = {**attributes, "AWS_INSTANCE_IPV4": ip}
    return json.dumps(request).encode(), None
