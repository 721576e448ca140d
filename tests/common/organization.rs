//! Organization mode's fixtures: the organization of moto's home account (the management account,
//! one per test binary), new member accounts, EC2 inside one through its member role.

use aws_config::SdkConfig;
use aws_sdk_ec2::config::SharedCredentialsProvider;
use tokio::sync::OnceCell;

use super::moto::{config, unique, HOME_REGION};

pub const ROLE_NAME: &str = "cloud-unmap-reader";
pub const READER: &str = "arn:aws:iam::123456789012:role/cloud-unmap-organization-reader";

/// The organization of moto's home account (one per test binary), created on first use.
pub async fn organization() -> String {
    static ORG: OnceCell<String> = OnceCell::const_new();
    ORG.get_or_init(|| async {
        let client = aws_sdk_organizations::Client::new(&config(HOME_REGION).await);
        client
            .create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("create the organization")
            .organization()
            .and_then(|o| o.id())
            .unwrap()
            .to_string()
    })
    .await
    .clone()
}

/// A new account of the organization: its id.
pub async fn new_account() -> String {
    let client = aws_sdk_organizations::Client::new(&config(HOME_REGION).await);
    let name = unique("member");
    let status = client
        .create_account()
        .account_name(&name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .expect("create an account");
    status
        .create_account_status()
        .and_then(|s| s.account_id())
        .unwrap()
        .to_string()
}

/// EC2 in `account` through its member role (moto acts in the role's account).
pub async fn ec2_in(account: &str, region: &str) -> aws_sdk_ec2::Client {
    let home = config(region).await;
    let role = format!("arn:aws:iam::{account}:role/{ROLE_NAME}");
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .configure(&home)
        .session_name("fixture")
        .build()
        .await;
    let conf: SdkConfig = home
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build();
    aws_sdk_ec2::Client::new(&conf)
}
