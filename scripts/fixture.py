"""Seeds moto with a Cloud Map namespace, one service and registered EC2 instances (boto3).

    fixture.py seed --endpoint URL --instances N [--region R]   -> prints JSON {namespace, service, instances:[{id, ip}]}
    fixture.py terminate --endpoint URL --ids i-1 i-2 ...
    fixture.py register --endpoint URL --service srv-... --state FILE   (re-register every instance of a seed's JSON)
    fixture.py registered --endpoint URL --service srv-...              -> prints the registered ids, one a line
    fixture.py queue --endpoint URL --name NAME     -> queue + DLQ + the EventBridge rules of event-rules.json; prints the queue URL
    fixture.py event --endpoint URL --ids i-1 ...   -> PutEvents "EC2 Instance State-change Notification: terminated" for each id

Used by `make demo` and the benchmarks under bench/.
"""

import argparse
import json
import sys
import uuid

import boto3


def clients(endpoint, region):
    kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("servicediscovery", **kw), boto3.client("ec2", **kw)


def seed(a):
    sd, ec2 = clients(a.endpoint, a.region)
    op = sd.create_http_namespace(Name=f"demo-{uuid.uuid4().hex[:8]}")["OperationId"]
    ns = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    svc = sd.create_service(Name=a.service_name, NamespaceId=ns)["Service"]["Id"]
    instances = []
    left = a.instances
    while left > 0:
        n = min(left, 500)
        out = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=n, MaxCount=n)
        instances += [{"id": i["InstanceId"], "ip": i["PrivateIpAddress"]} for i in out["Instances"]]
        left -= n
    for i in instances:
        sd.register_instance(
            ServiceId=svc, InstanceId=i["id"], Attributes={"AWS_INSTANCE_IPV4": i["ip"], "AWS_INSTANCE_PORT": "80"}
        )
    json.dump({"namespace": ns, "service": svc, "instances": instances}, sys.stdout)
    print()


def terminate(a):
    _, ec2 = clients(a.endpoint, a.region)
    for k in range(0, len(a.ids), 500):
        ec2.terminate_instances(InstanceIds=a.ids[k : k + 500])


def register(a):
    sd, _ = clients(a.endpoint, a.region)
    state = json.load(open(a.state))
    present = set(registered_ids(sd, a.service))
    for i in state["instances"]:
        if i["id"] not in present:
            sd.register_instance(
                ServiceId=a.service,
                InstanceId=i["id"],
                Attributes={"AWS_INSTANCE_IPV4": i["ip"], "AWS_INSTANCE_PORT": "80"},
            )


def registered_ids(sd, service):
    ids, token = [], None
    while True:
        kw = {"ServiceId": service, "MaxResults": 100}
        if token:
            kw["NextToken"] = token
        page = sd.list_instances(**kw)
        ids += [i["Id"] for i in page["Instances"]]
        token = page.get("NextToken")
        if not token:
            return ids


def registered(a):
    sd, _ = clients(a.endpoint, a.region)
    for i in sorted(registered_ids(sd, a.service)):
        print(i)


def queue(a):
    kw = dict(
        endpoint_url=a.endpoint, region_name=a.region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    sqs, events = boto3.client("sqs", **kw), boto3.client("events", **kw)
    dlq = sqs.create_queue(QueueName=a.name + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=a.name,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # As infra/ deploys it: EventBridge may send to the queue.
    allow = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage"}
    policy = {"Version": "2012-10-17", "Statement": [dict(allow, Resource=arn)]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    root = __file__.rsplit("/scripts/", 1)[0]
    for rule in json.load(open(f"{root}/infra/construct/event-rules.json"))["rules"]:
        name = f"{a.name}-{rule['name']}"
        events.put_rule(Name=name, EventPattern=json.dumps(rule["pattern"]), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    print(url)


def event(a):
    kw = dict(
        endpoint_url=a.endpoint, region_name=a.region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    boto3.client("events", **kw).put_events(
        Entries=[
            {
                "Source": "aws.ec2",
                "DetailType": "EC2 Instance State-change Notification",
                "Detail": json.dumps({"instance-id": i, "state": "terminated"}),
            }
            for i in a.ids
        ]
    )


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("seed", "terminate", "register", "registered", "queue", "event"):
        s = sub.add_parser(name)
        s.add_argument("--endpoint", required=True)
        s.add_argument("--region", default="us-east-1")
        if name == "seed":
            s.add_argument("--instances", type=int, default=5)
            s.add_argument("--service-name", default="web")
        if name in ("terminate", "event"):
            s.add_argument("--ids", nargs="+", required=True)
        if name == "queue":
            s.add_argument("--name", default="cloud-unmap-events")
        if name in ("register", "registered"):
            s.add_argument("--service", required=True)
        if name == "register":
            s.add_argument("--state", required=True)
    a = p.parse_args()
    {
        "seed": seed,
        "terminate": terminate,
        "register": register,
        "registered": registered,
        "queue": queue,
        "event": event,
    }[a.cmd](a)


if __name__ == "__main__":
    main()
