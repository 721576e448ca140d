// Acknowledgements of validation findings (cdk-nag's), beside the constructs they concern. aws-cdk-lib
// versions before `Validations` have no validation plugins to read them: there they are skipped, so the
// package still works with the oldest aws-cdk-lib it supports.
import * as cdk from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

interface Acknowledgement {
  id: string;
  reason: string;
}

/** Acknowledges the finding `id` on `scope`, with its reason (when aws-cdk-lib has Validations). */
export function acknowledge(scope: IConstruct, ack: Acknowledgement): void {
  const validations = (cdk as unknown as { Validations?: { of(s: IConstruct): { acknowledge(a: Acknowledgement): void } } }).Validations;
  validations?.of(scope).acknowledge(ack);
}
