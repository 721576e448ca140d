"""End to end on moto, no AWS account: deploy the synthesized home stack (cloudformation/home.json)
into moto's CloudFormation, put a terminated-instance event on the default bus, see it routed by the
stack's own rules into the stack's queue, and see the worker pointed at that queue deregister the
instance. Then member.json as a service-managed StackSet deploys it (one stack per account and region;
moto accepts StackSets but creates no instances, so the stacks are created directly), and
home-existing-vpc.json into a VPC of moto's. Prints "e2e: N passed, N failed"; exit 1 on any failure.

    .venv/bin/python -m infra.test.e2e_moto [path/to/cloud-unmap]   (from the repo root)
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3

from bench.common import Moto, aws_env, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/cloud-unmap/target"))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TARGET, "debug", "cloud-unmap")
REGION = "us-east-1"
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok' if ok else 'FAILED'}: {name}" + (f" ({detail})" if detail and not ok else ""), flush=True)
    return ok


def wait(cfn, name):
    status = None
    for _ in range(300):
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS"):
            break
        time.sleep(0.2)
    if status != "CREATE_COMPLETE":
        for e in cfn.describe_stack_events(StackName=name)["StackEvents"][:10]:
            print("  ", e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
    return status


def client(moto, name, region, account="123456789012"):
    """A client of `account`: moto attributes requests made with an assumed role's keys to the role's account."""
    kw = dict(endpoint_url=moto.endpoint, region_name=region)
    base = boto3.client("sts", aws_access_key_id="testing", aws_secret_access_key="testing", **kw)
    if account == "123456789012":
        return boto3.client(name, aws_access_key_id="testing", aws_secret_access_key="testing", **kw)
    creds = base.assume_role(RoleArn=f"arn:aws:iam::{account}:role/e2e", RoleSessionName="e2e")["Credentials"]
    return boto3.client(
        name,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        **kw,
    )


def member_stackset(moto):
    """member.json in two accounts (the home one and a member) and two regions, as a StackSet deploys it."""
    body = open(os.path.join(ROOT, "infra", "cloudformation", "member.json")).read()
    base = {"HomeAccountId": "123456789012", "HomeRegion": REGION, "LifecycleHookNames": "cloud-unmap"}
    for account in ("123456789012", "222222222222"):
        for region in (REGION, "us-west-2"):
            # The member account in organization mode with alarms (a topic of its own); the home account without.
            extra = {"AlarmTopicArn": "create", "OrganizationId": "o-abcdef0123"} if account == "222222222222" else {}
            params = {**base, **extra}
            cfn = client(moto, "cloudformation", region, account)
            cfn.create_stack(
                StackName="StackSet-cloud-unmap-member",
                TemplateBody=body,
                Capabilities=["CAPABILITY_NAMED_IAM"],
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            )
            status = wait(cfn, "StackSet-cloud-unmap-member")
            check(f"member.json reaches CREATE_COMPLETE in {account}/{region}", status == "CREATE_COMPLETE", status)
            made = cfn.describe_stack_resources(StackName="StackSet-cloud-unmap-member")["StackResources"]
            rules = [r for r in made if r.get("ResourceType") == "AWS::Events::Rule"]
            home = account == "123456789012" and region == REGION
            check(
                f"forwarding rules in {account}/{region}: {'none (the home stack is there)' if home else 'all'}",
                (len(rules) == 0) if home else (len(rules) >= 5),
                len(rules),
            )
            topics = [r for r in made if r.get("ResourceType") == "AWS::SNS::Topic"]
            want = 1 if extra else 0
            check(
                f"alarm topics in {account}/{region}: {want} (AlarmTopicArn {extra and 'create' or 'empty'})",
                len(topics) == want,
            )
        roles = [r["RoleName"] for r in client(moto, "iam", REGION, account).list_roles()["Roles"]]
        check(f"one reader role in {account} (IAM names are global)", roles.count("cloud-unmap-reader") == 1, roles)


def organization_reader(moto):
    """organization-reader.json (in the management account or a delegated administrator): its role exists."""
    cfn = client(moto, "cloudformation", REGION, "333333333333")
    params = {"HomeAccountId": "123456789012", "HomeRegion": REGION, "OrganizationId": "o-abcdef0123"}
    cfn.create_stack(
        StackName="cloud-unmap-organization-reader",
        TemplateBody=open(os.path.join(ROOT, "infra", "cloudformation", "organization-reader.json")).read(),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
    )
    status = wait(cfn, "cloud-unmap-organization-reader")
    check("organization-reader.json reaches CREATE_COMPLETE on moto", status == "CREATE_COMPLETE", status)
    roles = [r["RoleName"] for r in client(moto, "iam", REGION, "333333333333").list_roles()["Roles"]]
    check("the organization reader role exists", "cloud-unmap-organization-reader" in roles, roles)


def existing_vpc(moto):
    """home-existing-vpc.json in a VPC and subnets of the account's: the service runs there, nothing else made."""
    ec2 = client(moto, "ec2", "us-west-2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    vpcs_before = len(ec2.describe_vpcs()["Vpcs"])
    cfn = client(moto, "cloudformation", "us-west-2")
    params = {
        "ImageUri": "111111111111.dkr.ecr.us-west-2.amazonaws.com/cloud-unmap:0.1.0",
        "ImageRepositoryName": "cloud-unmap",
        "ServiceIds": "srv-abcdef0123456789",
        "InstanceRegions": "us-west-2",
        "LifecycleHookNames": "cloud-unmap",
        "VpcId": vpc,
        "SubnetIds": ",".join(subnets),
    }
    cfn.create_stack(
        StackName="cloud-unmap-home-vpc",
        TemplateBody=open(os.path.join(ROOT, "infra", "cloudformation", "home-existing-vpc.json")).read(),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
    )
    status = wait(cfn, "cloud-unmap-home-vpc")
    check("home-existing-vpc.json reaches CREATE_COMPLETE on moto", status == "CREATE_COMPLETE", status)
    check("it created no VPC", len(ec2.describe_vpcs()["Vpcs"]) == vpcs_before)
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    check(
        "the worker's security group is in the VPC given", any("CloudUnmap" in g["GroupName"] for g in groups), groups
    )


def main():
    moto = Moto()
    worker = None
    try:
        kw = dict(
            endpoint_url=moto.endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        cfn, sqs, events, sd, ec2 = (
            boto3.client(n, **kw) for n in ("cloudformation", "sqs", "events", "servicediscovery", "ec2")
        )
        # Fixture: a service with two live instances.
        op = sd.create_http_namespace(Name="e2e")["OperationId"]
        ns = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
        svc = sd.create_service(Name="web", NamespaceId=ns)["Service"]["Id"]
        insts = ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2)["Instances"]
        for i in insts:
            sd.register_instance(
                ServiceId=svc, InstanceId=i["InstanceId"], Attributes={"AWS_INSTANCE_IPV4": i["PrivateIpAddress"]}
            )

        template = open(os.path.join(ROOT, "infra", "cloudformation", "home.json")).read()
        params = {
            "ImageUri": "public.ecr.aws/example/cloud-unmap:test",
            "ServiceIds": svc,
            "InstanceRegions": REGION,
            # Given explicitly: moto splits a CommaDelimitedList parameter only when it is passed, not its
            # default (AWS splits both); unsplit, the rule's LifecycleHookName would not be a list.
            "LifecycleHookNames": "cloud-unmap",
        }
        cfn.create_stack(
            StackName="cloud-unmap-home",
            TemplateBody=template,
            Capabilities=["CAPABILITY_NAMED_IAM"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        )
        status = None
        for _ in range(300):
            status = cfn.describe_stacks(StackName="cloud-unmap-home")["Stacks"][0]["StackStatus"]
            if not status.endswith("IN_PROGRESS"):
                break
            time.sleep(0.2)
        if not check("home stack reaches CREATE_COMPLETE on moto", status == "CREATE_COMPLETE", status):
            for e in cfn.describe_stack_events(StackName="cloud-unmap-home")["StackEvents"][:10]:
                print("  ", e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
            return
        resources = {
            r.get("LogicalResourceId", ""): r
            for r in cfn.describe_stack_resources(StackName="cloud-unmap-home")["StackResources"]
        }
        queue_url = next(
            r["PhysicalResourceId"]
            for k, r in resources.items()
            if r.get("ResourceType") == "AWS::SQS::Queue" and k.startswith("CloudUnmapEventQueue")
        )
        found = sqs.get_queue_url(QueueName=queue_url.rsplit("/", 1)[-1])["QueueUrl"]
        # The stack reports the regional URL; moto answers with its own host. Same account and name.
        check("the stack's queue exists", found.split("/")[-2:] == queue_url.split("/")[-2:], f"{found} vs {queue_url}")
        redrive = json.loads(
            sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"][
                "RedrivePolicy"
            ]
        )
        check(
            "its redrive policy sends to the stack's dead-letter queue after 5 receives",
            int(redrive["maxReceiveCount"]) == 5,
        )

        # The replicas' state table; the schedule that feeds the reconcile message (moto's CloudFormation
        # skips AWS::Scheduler::Schedule, so the message its template says is put by hand below).
        table = next(
            r["PhysicalResourceId"] for r in resources.values() if r.get("ResourceType") == "AWS::DynamoDB::Table"
        )
        schedule = next(
            r for r in json.loads(template)["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"
        )["Properties"]
        check(
            "the schedule puts the reconcile message in the event queue",
            "EventQueue" in json.dumps(schedule["Target"]["Arn"]),
        )

        # An event on the default bus is routed by the stack's rules into its queue.
        victim = insts[0]["InstanceId"]
        ec2.terminate_instances(InstanceIds=[victim])

        def put(source, detail_type, detail):
            events.put_events(Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}])

        def queued():
            attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
            return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

        put("aws.ec2", "EC2 Instance State-change Notification", {"instance-id": victim, "state": "terminated"})
        n = queued()
        check("the stack's rule routed the event into the stack's queue", n == 1, n)
        # The lifecycle rule forwards only cloud-unmap's own hooks.
        for hook in ("another-teams-hook", "cloud-unmap"):
            detail = {
                "LifecycleActionToken": hook,
                "AutoScalingGroupName": "web",
                "LifecycleHookName": hook,
                "EC2InstanceId": insts[1]["InstanceId"],
                "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
            }
            put("aws.autoscaling", "EC2 Instance-terminate Lifecycle Action", detail)
        n = queued()
        check("the lifecycle rule routed cloud-unmap's hook and not another team's", n == 2, n)
        # What forwarders send lands on the stack's own bus (not the default one), whose rules feed the same queue.
        events.put_events(
            Entries=[
                {
                    "Source": "aws.ec2",
                    "DetailType": "EC2 Instance State-change Notification",
                    "Detail": json.dumps({"instance-id": insts[1]["InstanceId"], "state": "stopping"}),
                    "EventBusName": "cloud-unmap-forwarded",
                }
            ]
        )
        n = queued()
        check("the forwarded bus's rules routed a forwarded event into the same queue", n == 3, n)

        # The worker, configured as the task definition would configure it, deregisters the instance.
        port = free_port()
        env = aws_env(moto.endpoint)
        env.update(
            CLOUD_UNMAP_SERVICE_ID=svc,
            CLOUD_UNMAP_SERVICE_REGION=REGION,
            CLOUD_UNMAP_INSTANCES_REGION=REGION,
            CLOUD_UNMAP_QUEUE_URL=queue_url,
            CLOUD_UNMAP_FREQUENCY="3600",
            CLOUD_UNMAP_PROMETHEUS_HOST="127.0.0.1",
            CLOUD_UNMAP_PROMETHEUS_PORT=str(port),
            CLOUD_UNMAP_LOG_FORMAT="json",
            CLOUD_UNMAP_LIFECYCLE_HOOK_NAME="cloud-unmap",
            CLOUD_UNMAP_LIFECYCLE_DRAIN_SECONDS="",
            CLOUD_UNMAP_STATE_TABLE=table,
        )
        worker = subprocess.Popen([BIN], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gone = False
        for _ in range(200):
            ids = [i["Id"] for i in sd.list_instances(ServiceId=svc)["Instances"]]
            if victim not in ids:
                gone = True
                break
            time.sleep(0.1)
        check("the worker deregistered the terminated instance from that queue", gone)
        check(
            "the live instance stays registered",
            insts[1]["InstanceId"] in [i["Id"] for i in sd.list_instances(ServiceId=svc)["Instances"]],
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            check("the container health check endpoint answers 200", r.status == 200)
        dynamodb = client(moto, "dynamodb", REGION)
        cycle = dynamodb.get_item(TableName=table, Key={"pk": {"S": "cycle"}}, ConsistentRead=True).get("Item", {})
        check("the worker's start cycle holds the stack's state table", "started" in cycle, cycle)
        # The template joins the FrequencySeconds parameter (default 300) into the message.
        parts = schedule["Target"]["Input"]["Fn::Join"][1]
        body = "".join("300" if isinstance(p, dict) else p for p in parts)
        check(
            "the reconcile message says the schedule's period as a number", json.loads(body).get("every") == 300, body
        )
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        drained = False
        for _ in range(200):
            attrs = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if attrs == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}:
                drained = True
                break
            time.sleep(0.1)
        check("the worker takes the schedule's reconcile message from the queue", drained)
        if worker:
            worker.terminate()
            worker.wait(timeout=30)
            check("the worker stops with exit 0 on SIGTERM", worker.returncode == 0, worker.returncode)
            worker = None
        member_stackset(moto)
        organization_reader(moto)
        existing_vpc(moto)
    finally:
        if worker:
            worker.terminate()
            worker.wait(timeout=30)
        moto.close()


main()
failed = results.count(False)
print(f"e2e: {len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed or not results else 0)
