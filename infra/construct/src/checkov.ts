// checkov (an independent scanner of the synthesized templates) reads `Metadata.checkov.skip` on a
// resource: a finding skipped there carries its reason beside the resource it concerns.
import { CfnResource } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** Skips checkov's check `id` on `scope`'s CloudFormation resource (or `scope` itself), saying why. */
export function skipCheckov(scope: IConstruct, id: string, comment: string): void {
  const cfn = (scope instanceof CfnResource ? scope : scope.node.defaultChild) as CfnResource | undefined;
  if (cfn === undefined) throw new Error(`skipCheckov: ${scope.node.path} has no CloudFormation resource`);
  const meta = (cfn.getMetadata('checkov') as { skip: { id: string; comment: string }[] } | undefined) ?? { skip: [] };
  if (!meta.skip.some((s) => s.id === id)) meta.skip.push({ id, comment });
  cfn.addMetadata('checkov', meta);
}

/** Why SSE-SQS is enough when no customer-managed key is given. */
export const SSE_SQS =
  'Encrypted at rest with SSE-SQS (keys SQS manages; checkov recognizes only KMS): a customer-managed key is ' +
  'optional (the encryptionKey prop, the KmsKeyArn parameter).';
