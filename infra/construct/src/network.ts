// Where the worker runs: the VPC given, or one created in one of three modes (public subnets, private
// subnets behind a NAT gateway, isolated subnets with the VPC endpoints the worker needs).
import { RemovalPolicy } from 'aws-cdk-lib';
import { acknowledge } from './acknowledge';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { skipCheckov } from './checkov';

/** How a created VPC reaches AWS's APIs. */
export enum NetworkMode {
  /** Public subnets, a public IP per task, no NAT: the cheapest; some organizations forbid it by SCP. */
  PUBLIC_SUBNETS = 'PUBLIC_SUBNETS',
  /** Private subnets behind one NAT gateway: any region's APIs, any registry. */
  NAT_GATEWAY = 'NAT_GATEWAY',
  /**
   * Isolated subnets with interface endpoints (sqs, ec2, servicediscovery, data-servicediscovery, sts, autoscaling, logs,
   * ecr.api, ecr.dkr; events with the audit bus) and S3 and DynamoDB gateway endpoints (the image layers;
   * the replicas' state table): no route to the internet.
   * Endpoints are regional: every instance region must be the home region, the image must be in ECR.
   */
  VPC_ENDPOINTS = 'VPC_ENDPOINTS',
}

export interface NetworkInput {
  mode: NetworkMode;
  vpc?: ec2.IVpc;
  vpcSubnets?: ec2.SubnetSelection;
  assignPublicIp?: boolean;
  /** Interface endpoints beyond the base set (VPC_ENDPOINTS). */
  extraEndpoints: ec2.InterfaceVpcEndpointAwsService[];
  /** The customer-managed key of the flow log group, when one is given. */
  encryptionKey?: kms.IKey;
}

export interface WorkerNetwork {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  assignPublicIp: boolean;
}

/** The interface endpoints of VPC_ENDPOINTS mode. */
export const BASE_ENDPOINTS: [string, ec2.InterfaceVpcEndpointAwsService][] = [
  ['Sqs', ec2.InterfaceVpcEndpointAwsService.SQS],
  ['Ec2', ec2.InterfaceVpcEndpointAwsService.EC2],
  ['CloudMap', ec2.InterfaceVpcEndpointAwsService.CLOUD_MAP_SERVICE_DISCOVERY],
  // Cloud Map's data plane (DiscoverInstancesRevision).
  ['CloudMapData', ec2.InterfaceVpcEndpointAwsService.CLOUD_MAP_DATA_SERVICE_DISCOVERY],
  ['Sts', ec2.InterfaceVpcEndpointAwsService.STS],
  ['AutoScaling', ec2.InterfaceVpcEndpointAwsService.AUTOSCALING],
  ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
  ['EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR],
  ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
];

export function workerNetwork(scope: Construct, input: NetworkInput): WorkerNetwork {
  if (input.vpc !== undefined) {
    return { vpc: input.vpc, subnets: input.vpcSubnets ?? {}, assignPublicIp: input.assignPublicIp ?? false };
  }
  const subnetType = {
    [NetworkMode.PUBLIC_SUBNETS]: ec2.SubnetType.PUBLIC,
    [NetworkMode.NAT_GATEWAY]: ec2.SubnetType.PRIVATE_WITH_EGRESS,
    [NetworkMode.VPC_ENDPOINTS]: ec2.SubnetType.PRIVATE_ISOLATED,
  }[input.mode];
  const subnetConfiguration: ec2.SubnetConfiguration[] = [{ name: 'worker', subnetType }];
  if (input.mode === NetworkMode.NAT_GATEWAY) subnetConfiguration.push({ name: 'public', subnetType: ec2.SubnetType.PUBLIC });
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    maxAzs: 2,
    natGateways: input.mode === NetworkMode.NAT_GATEWAY ? 1 : 0,
    subnetConfiguration,
  });
  vpc.addFlowLog('FlowLog', {
    destination: ec2.FlowLogDestination.toCloudWatchLogs(
      flowLogGroup(scope, input.encryptionKey),
    ),
    trafficType: ec2.FlowLogTrafficType.REJECT,
  });
  if (input.mode === NetworkMode.VPC_ENDPOINTS) {
    const endpoints: [string, ec2.InterfaceVpcEndpointAwsService][] = [
      ...BASE_ENDPOINTS,
      ...input.extraEndpoints.map((e, i): [string, ec2.InterfaceVpcEndpointAwsService] => [`Extra${i}`, e]),
    ];
    for (const [id, service] of endpoints) {
      const endpoint = vpc.addInterfaceEndpoint(`${id}Endpoint`, { service });
      acknowledge(endpoint, {
        id: 'AwsSolutions::AwsSolutions-EC23',
        reason: "An interface endpoint admits HTTPS from its own VPC's CIDR only (the CIDR is a token at synth time).",
      });
    }
    vpc.addGatewayEndpoint('S3Endpoint', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    // The state table (UpdateItem, Scan): without it every call times out and the replicas lose the shared reconcile.
    vpc.addGatewayEndpoint('DynamoDbEndpoint', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
  }
  return {
    vpc,
    subnets: { subnetType },
    assignPublicIp: input.assignPublicIp ?? input.mode === NetworkMode.PUBLIC_SUBNETS,
  };
}

/** The flow log's group: rejected connections, a month, encrypted with the key given (or CloudWatch Logs' own). */
function flowLogGroup(scope: Construct, key?: kms.IKey): logs.LogGroup {
  const group = new logs.LogGroup(scope, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY, encryptionKey: key });
  if (key === undefined) {
    skipCheckov(group, 'CKV_AWS_158', 'Rejected-connection records, encrypted at rest by CloudWatch Logs; a customer-managed key is optional (encryptionKey).');
  }
  return group;
}
