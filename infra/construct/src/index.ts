// cloud-unmap-cdk: the constructs a CDK app adds to deploy cloud-unmap (home, forwarders, member roles).
export { CloudUnmap, CloudUnmapProps } from './cloud-unmap';
export { CloudUnmapForwarder, CloudUnmapForwarderProps, FORWARDED_BUS_NAME } from './forwarder';
export { CloudUnmapMemberRole, CloudUnmapMemberRoleProps, CloudUnmapOrganizationReader, CloudUnmapOrganizationReaderProps } from './member-role';
export { NetworkMode } from './network';
export { GroupTag } from './policy';
