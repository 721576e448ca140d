//! STS: who the home credentials are (GetCallerIdentity, which needs no permission). Member
//! accounts' AssumeRole stays in the credentials provider of `aws::assume_role`.

use aws_config::SdkConfig;
use aws_sdk_sts::Client;

use crate::error::{Error, Operation};

/// The identity the credentials act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The account id the credentials act in.
    pub account: String,
    /// The caller's ARN (user, or assumed role session); empty when STS left it out.
    pub arn: String,
}

/// The STS client of `config`.
pub fn client(config: &SdkConfig) -> Client {
    Client::new(config)
}

/// GetCallerIdentity: the credentials' account and ARN.
pub async fn caller(client: &Client) -> Result<Caller, Error> {
    let out = client
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| Error::aws(Operation::GetCallerIdentity, e))?;
    Ok(Caller {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
    })
}
