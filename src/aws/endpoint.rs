//! Name resolution for the SDK's HTTP client when `AWS_ENDPOINT_URL` names a loopback host (moto,
//! LocalStack, a test proxy): Cloud Map's data-plane calls (DiscoverInstancesRevision) carry the
//! `data-` host prefix, which the SDK always puts before the endpoint's host, so they would go to
//! `data-127.0.0.1`, a name no resolver knows. Here such a name resolves as the host it prefixes.
//! Every other name, and every name when the endpoint is not loopback, resolves as usual.

use std::net::IpAddr;

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The SDK's host prefix for Cloud Map's data plane.
const DATA_PREFIX: &str = "data-";

/// Resolves `data-<loopback host>` as `<loopback host>`, everything else through the system.
#[derive(Debug, Clone)]
struct LoopbackDataPrefix;

impl ResolveDns for LoopbackDataPrefix {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let host = unprefixed(name).to_string();
        DnsFuture::new(async move {
            if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
                return Ok(vec![ip]);
            }
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(ResolveDnsError::new)?;
            Ok(found.map(|a| a.ip()).collect())
        })
    }
}

/// The name to resolve for `name`: without the data prefix when what follows is a loopback host.
fn unprefixed(name: &str) -> &str {
    match name.strip_prefix(DATA_PREFIX) {
        Some(host) if is_loopback(host) => host,
        _ => name,
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host of an endpoint URL (`http://127.0.0.1:5000/` → `127.0.0.1`).
fn endpoint_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => &authority[..v6.find(']')? + 2],
        None => authority.split(':').next()?,
    };
    Some(host)
}

/// An HTTP client resolving the data prefix, when `AWS_ENDPOINT_URL` is a loopback endpoint.
pub fn loopback_client() -> Option<SharedHttpClient> {
    let url = std::env::var("AWS_ENDPOINT_URL").ok()?;
    if !endpoint_host(&url).is_some_and(is_loopback) {
        return None;
    }
    Some(
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .build_with_resolver(LoopbackDataPrefix),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_prefixed_loopback_host_is_rewritten() {
        assert_eq!(unprefixed("data-127.0.0.1"), "127.0.0.1");
        assert_eq!(unprefixed("data-localhost"), "localhost");
        assert_eq!(unprefixed("data-[::1]"), "[::1]");
        assert_eq!(
            unprefixed("data-servicediscovery.eu-west-1.amazonaws.com"),
            "data-servicediscovery.eu-west-1.amazonaws.com"
        );
        assert_eq!(unprefixed("data-10.0.0.1"), "data-10.0.0.1");
        assert_eq!(unprefixed("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn endpoint_hosts() {
        assert_eq!(endpoint_host("http://127.0.0.1:5000"), Some("127.0.0.1"));
        assert_eq!(endpoint_host("http://localhost:5000/"), Some("localhost"));
        assert_eq!(endpoint_host("http://[::1]:5000/x"), Some("[::1]"));
        assert_eq!(
            endpoint_host("https://sqs.eu-west-1.amazonaws.com"),
            Some("sqs.eu-west-1.amazonaws.com")
        );
        assert!(is_loopback("[::1]") && is_loopback("127.0.0.2") && !is_loopback("10.0.0.1"));
    }
}
