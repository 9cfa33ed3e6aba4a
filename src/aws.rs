//! The settings every AWS client here shares: the region, rustls with ring (the binary's one
//! TLS stack, no aws-lc build), bounded timeouts, and an endpoint override for VPC endpoints
//! and local fakes. Credentials come from the standard chain (environment, profile, ECS task
//! role), resolved at the first call so start-up never waits on a metadata lookup; an
//! endpoint URL with `user:password@` uses those instead, for local emulators.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig, timeout::TimeoutConfig};
use aws_sdk_sesv2::config::Credentials;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use url::Url;

pub async fn sdk_config(region: &str, endpoint: Option<&Url>) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        );
    if let Some(url) = endpoint {
        if !url.username().is_empty() {
            loader = loader.credentials_provider(Credentials::new(
                url.username(),
                url.password().unwrap_or_default(),
                None,
                None,
                "endpoint-url",
            ));
        }
        let mut bare = url.clone();
        let _ = bare.set_username("");
        let _ = bare.set_password(None);
        loader = loader.endpoint_url(bare.as_str().trim_end_matches('/'));
    }
    loader.load().await
}

/// What went wrong with a call, in words for the log: `(not found?, "Op: Code (message)")`.
/// "Not found" is what idempotent deletes and disconnects treat as done.
/// Every SDK crate re-exports the same smithy error types; SES's names serve them all.
pub fn describe<E>(what: &str, e: &aws_sdk_sesv2::error::SdkError<E>) -> (bool, String)
where
    E: aws_sdk_sesv2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.as_service_error() {
        Some(s) => (
            s.code() == Some("ResourceNotFoundException"),
            format!(
                "{what}: {} ({})",
                s.code().unwrap_or("error"),
                s.message().unwrap_or("no message")
            ),
        ),
        None => (
            false,
            format!(
                "{what}: unreachable: {}",
                aws_sdk_sesv2::error::DisplayErrorContext(e)
            ),
        ),
    }
}
