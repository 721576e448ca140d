//! The subcommands' `--help` examples and exit-code notes.

pub(super) const DECOMMISSION_EXAMPLES: &str = "\
Examples:
  # See what would happen, checking permissions with EC2's DryRun, changing nothing
  cloud-unmap decommission --tag Name='dtest*' --tag env=staging --instances-region eu-west-1 --dry-run

  # Two accounts, two regions; drain from a namespace's services first, then retire without asking
  cloud-unmap decommission --tag team=search --instances-region eu-west-1 us-east-1 \\
      --instances-role-arn arn:aws:iam::222222222222:role/cloud-unmap-decommission \\
      --namespace-id ns-abcdef0123456789 --service-region eu-west-1 --drain-seconds 30 --yes

  # Members of an Auto Scaling group: detach them first (desired capacity decremented, no replacement)
  AWS_REGION=eu-west-1 cloud-unmap decommission --instance-id i-0123456789abcdef0 --detach -y

Per instance: detach from its Auto Scaling group (--detach), drain every registration whose target it is
(with --service-id/--namespace-id), stop and wait, read the state again (started meanwhile: stop again),
snapshot every EBS volume and wait, set DeleteOnTermination, terminate (--no-snapshot: no snapshot, and
DeleteOnTermination left as set; the report lists the volumes that survive). A failed snapshot,
termination protection or any error leaves the instance unterminated and reports it failed. Refused
untouched: an Auto Scaling member without --detach, an instance whose drain would empty a service
without --allow-empty-service. The flags are the worker's names (--region and --role-arn still work);
each also reads CLOUD_UNMAP_<FLAG>, and the regions default to AWS_REGION. Exit 0 only when nothing
failed or was refused; 1 when something failed; 2 for bad usage or a refused confirmation; 3 when
instances were refused.";

pub(super) const CHECK_EXAMPLES: &str = "\
Examples:
  # Before the first deploy, with the flags the worker will run with
  cloud-unmap check --namespace-id ns-abcdef0123456789 --service-region eu-west-1 \\
      --instances-region eu-west-1 us-east-1 \\
      --instances-role-arn arn:aws:iam::222222222222:role/cloud-unmap-reader \\
      --queue-url https://sqs.eu-west-1.amazonaws.com/111111111111/cloud-unmap-events

  # The same from the worker's environment (CLOUD_UNMAP_* variables), as JSON for a pipeline
  cloud-unmap check --output json | jq '.findings[] | select(.level == \"fail\")'

  # Why is this registration kept (or removed)? The worker's decision and each account's evidence
  cloud-unmap check --service-id srv-abcdef0123456789 --service-region eu-west-1 \\
      --instances-region eu-west-1 --instance-id i-0123456789abcdef0

It reads only (and probes DeleteMessage / ChangeMessageVisibility with a receipt handle that cannot
exist, which changes nothing). Permissions are those of the credentials it runs with: run it with the
worker's role to check the worker's. The worker's own flags (--frequency, --single-run, --prometheus-port,
...) are accepted and validated as the worker would, so its command line can be pasted after `check`,
but they change nothing here and are not listed above. Exit 0 when nothing would fail (warnings
allowed), 1 when something would, 2 for bad usage.";

pub(super) const RESTORE_EXAMPLES: &str = "\
Examples:
  # What would come back from the worker's logs of the last 2 hours (changes nothing)
  cloud-unmap restore --from worker.log --since 2h --service-region eu-west-1 --instances-region eu-west-1 --dry-run

  # One registration, from archived audit events (JSON lines), without asking
  cloud-unmap restore --from events.jsonl --service-id srv-abcdef0123456789 --instance-id web-1 \\
      --service-region eu-west-1 --instances-region eu-west-1 --yes

  # With the worker's settings in the environment (AWS_REGION, CLOUD_UNMAP_INSTANCES_ROLE_ARN, ...)
  cloud-unmap restore --from worker.log --since 2h --dry-run

Reads the `deregistered` log lines (JSON or text, coloured or not), `Registration Removed` events, or
bare records; the latest record of each registration counts. A registration comes back (same id, same
attributes; by EC2 id: AWS_EC2_INSTANCE_ID and AWS_INIT_HEALTH_STATUS, Cloud Map fills the address) only
if EC2 shows its instance alive at its address under the worker's rules; --force restores regardless.
One already registered is left alone. Every flag also reads CLOUD_UNMAP_<FLAG>; the region defaults to
AWS_REGION. Exit 0 when nothing failed, 1 when a registration failed, 2 for bad usage, a refused
confirmation or an input without any record, 3 when records were refused (their instance is gone).";
