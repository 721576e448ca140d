//! Fixtures built with the real SDK on moto: namespaces, services, instances (one `Launch`
//! builder, Spot included), registrations, and what a service holds.

use aws_sdk_ec2::types::{InstanceMarketOptionsRequest, InstanceType, MarketType};

use super::moto::{cloudmap, ec2, unique};

/// Creates an HTTP namespace and returns its id.
pub async fn namespace() -> String {
    let sd = cloudmap().await;
    let op = sd
        .create_http_namespace()
        .name(unique("ns"))
        .send()
        .await
        .unwrap()
        .operation_id()
        .unwrap()
        .to_string();
    let out = sd.get_operation().operation_id(op).send().await.unwrap();
    out.operation()
        .unwrap()
        .targets()
        .unwrap()
        .get(&aws_sdk_servicediscovery::types::OperationTargetType::Namespace)
        .unwrap()
        .clone()
}

/// Creates a service in `ns` and returns its id.
pub async fn service(ns: &str) -> String {
    tagged_service(ns, &[]).await
}

/// Creates a service in `ns` carrying `tags` and returns its id.
pub async fn tagged_service(ns: &str, tags: &[(&str, &str)]) -> String {
    let mut req = cloudmap()
        .await
        .create_service()
        .name(unique("svc"))
        .namespace_id(ns);
    for (k, v) in tags {
        let tag = aws_sdk_servicediscovery::types::Tag::builder()
            .key(*k)
            .value(*v)
            .build()
            .unwrap();
        req = req.tags(tag);
    }
    req.send()
        .await
        .unwrap()
        .service()
        .unwrap()
        .id()
        .unwrap()
        .to_string()
}

/// A launched instance: id and primary private IPv4.
#[derive(Clone, Debug)]
pub struct Instance {
    pub id: String,
    pub ip: String,
}

/// Instances to launch: `Launch::on(&client).count(3).spot().run().await`.
pub struct Launch<'a> {
    client: &'a aws_sdk_ec2::Client,
    count: i32,
    spot: bool,
    subnet: Option<String>,
    ipv6: i32,
}

impl<'a> Launch<'a> {
    pub fn on(client: &'a aws_sdk_ec2::Client) -> Launch<'a> {
        Launch {
            client,
            count: 1,
            spot: false,
            subnet: None,
            ipv6: 0,
        }
    }

    pub fn count(mut self, count: i32) -> Self {
        self.count = count;
        self
    }

    /// In this subnet, with this many IPv6 addresses each.
    pub fn in_subnet(mut self, subnet: &str, ipv6: i32) -> Self {
        self.subnet = Some(subnet.to_string());
        self.ipv6 = ipv6;
        self
    }

    /// As Spot instances (moto reports `InstanceLifecycle=spot`).
    pub fn spot(mut self) -> Self {
        self.spot = true;
        self
    }

    pub async fn run(self) -> Vec<Instance> {
        let mut req = self
            .client
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(InstanceType::T3Micro)
            .min_count(self.count)
            .max_count(self.count);
        if let Some(subnet) = &self.subnet {
            req = req.subnet_id(subnet).ipv6_address_count(self.ipv6);
        }
        if self.spot {
            req = req.instance_market_options(
                InstanceMarketOptionsRequest::builder()
                    .market_type(MarketType::Spot)
                    .build(),
            );
        }
        let out = req.send().await.unwrap();
        out.instances()
            .iter()
            .map(|i| Instance {
                id: i.instance_id().unwrap().to_string(),
                ip: i.private_ip_address().unwrap().to_string(),
            })
            .collect()
    }
}

/// `count` on-demand instances in the home account in `region`.
pub async fn launch(region: &str, count: i32) -> Vec<Instance> {
    Launch::on(&ec2(region).await).count(count).run().await
}

pub async fn terminate(client: &aws_sdk_ec2::Client, ids: &[String]) {
    client
        .terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .unwrap();
}

pub async fn stop(client: &aws_sdk_ec2::Client, ids: &[String]) {
    client
        .stop_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .unwrap();
}

/// Registers `id` in `service` with `AWS_INSTANCE_IPV4 = ip` (or no IPv4 attribute).
pub async fn register(service: &str, id: &str, ip: Option<&str>) {
    let sd = cloudmap().await;
    let mut req = sd
        .register_instance()
        .service_id(service)
        .instance_id(id)
        .attributes("AWS_INSTANCE_PORT", "80");
    if let Some(ip) = ip {
        req = req.attributes("AWS_INSTANCE_IPV4", ip);
    }
    req.send().await.unwrap();
}

pub async fn register_all(service: &str, instances: &[Instance]) {
    for i in instances {
        register(service, &i.id, Some(&i.ip)).await;
    }
}

/// The instance ids registered in `service`, sorted.
pub async fn registered(service: &str) -> Vec<String> {
    let regs = cloud_unmap::aws::cloudmap::list_registrations(&cloudmap().await, service)
        .await
        .unwrap();
    let mut ids: Vec<String> = regs.into_iter().map(|r| r.instance_id).collect();
    ids.sort();
    ids
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

pub fn ids(instances: &[Instance]) -> Vec<String> {
    instances.iter().map(|i| i.id.clone()).collect()
}

/// Registers `name` in `service` with exactly these attributes.
pub async fn register_named(service: &str, name: &str, attributes: &[(&str, &str)]) {
    let mut req = cloudmap()
        .await
        .register_instance()
        .service_id(service)
        .instance_id(name);
    for (k, v) in attributes {
        req = req.attributes(*k, *v);
    }
    req.send().await.unwrap();
}
