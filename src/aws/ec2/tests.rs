//! The EC2 edge's pure parts: chunking ids, reading addresses and states.
use super::*;
use aws_sdk_ec2::types::{
    InstanceNetworkInterface, InstanceNetworkInterfaceAssociation, InstancePrivateIpAddress,
    InstanceState as SdkState, InstanceStateName,
};

#[test]
fn chunks_never_exceed_ec2_limit() {
    for n in [0usize, 1, 199, 200, 201, 900, 1000] {
        let ids: Vec<String> = (0..n).map(|i| format!("i-{i:017x}")).collect();
        let chunks: Vec<&[String]> = chunk_ids(&ids).collect();
        assert!(chunks
            .iter()
            .all(|c| !c.is_empty() && c.len() <= MAX_IDS_PER_CALL));
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), n);
        assert_eq!(chunks.len(), n.div_ceil(MAX_IDS_PER_CALL));
    }
}

#[test]
fn every_ipv4_of_every_interface() {
    let assoc = |ip: &str| {
        InstanceNetworkInterfaceAssociation::builder()
            .public_ip(ip)
            .build()
    };
    let inst = Instance::builder()
        .instance_id("i-0123456789abcdef0")
        .state(SdkState::builder().name(InstanceStateName::Running).build())
        .private_ip_address("10.0.0.1")
        .public_ip_address("54.0.0.1")
        .network_interfaces(
            InstanceNetworkInterface::builder()
                .private_ip_address("10.0.0.1")
                .private_ip_addresses(
                    InstancePrivateIpAddress::builder()
                        .private_ip_address("10.0.0.1")
                        .build(),
                )
                .private_ip_addresses(
                    InstancePrivateIpAddress::builder()
                        .private_ip_address("10.0.0.2")
                        .association(assoc("3.3.3.3"))
                        .build(),
                )
                .build(),
        )
        .network_interfaces(
            InstanceNetworkInterface::builder()
                .private_ip_address("10.1.0.1")
                .association(assoc("4.4.4.4"))
                .build(),
        )
        .instance_lifecycle(InstanceLifecycleType::Spot)
        .build();
    let o = observe(&inst).unwrap();
    assert_eq!(
        o.ipv4,
        ["10.0.0.1", "54.0.0.1", "10.0.0.2", "3.3.3.3", "10.1.0.1", "4.4.4.4"]
    );
    assert_eq!(o.state, InstanceState::Running);
    assert!(o.spot);
}

#[test]
fn an_unreadable_instance_is_an_error_with_its_raw_values_never_gone() {
    let exploded = Instance::builder()
        .instance_id("i-0123456789abcdef0")
        .state(
            SdkState::builder()
                .name(InstanceStateName::from("exploded"))
                .build(),
        )
        .build();
    let e = observe(&exploded).unwrap_err().to_string();
    assert!(
        e.contains("exploded") && e.contains("i-0123456789abcdef0"),
        "{e}"
    );
    let stateless = Instance::builder()
        .instance_id("i-0123456789abcdef0")
        .build();
    assert!(observe(&stateless).is_err());
    let nameless = Instance::builder()
        .state(SdkState::builder().name(InstanceStateName::Running).build())
        .build();
    assert!(observe(&nameless).is_err());
}
