//! Amazon SES v2 transport: the rendered MIME message goes out as raw content, so the
//! calendar attachment and the List-Unsubscribe headers arrive exactly as the other
//! transports send them.

use aws_sdk_sesv2::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    operation::send_email::SendEmailError,
    primitives::Blob,
    types::{Destination, EmailContent, RawMessage},
};

use super::MailError;
use crate::config::SesSettings;

/// The SES account as GetAccount reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    /// Out of the sandbox: may mail any address. In it, SES takes mail only to addresses
    /// (or domains) verified in the account.
    pub production: bool,
    /// False when SES paused the account's sending (bounces, complaints).
    pub sending: bool,
    pub max_24h: f64,
    pub sent_24h: f64,
}

#[derive(Clone, Debug)]
pub struct SesMailer {
    client: Client,
    from: String,
    from_arn: Option<String>,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub async fn new(settings: &SesSettings, from: &str) -> SesMailer {
        let sdk = crate::aws::sdk_config(&settings.region, settings.endpoint_url.as_ref()).await;
        SesMailer {
            client: Client::new(&sdk),
            from: from.to_string(),
            from_arn: settings.from_arn.clone(),
            configuration_set: settings.configuration_set.clone(),
        }
    }

    /// What SES says of this account: whether it may mail anyone, and its daily quota.
    pub async fn account(&self) -> Result<Account, MailError> {
        let out = self
            .client
            .get_account()
            .send()
            .await
            .map_err(|e| MailError::Transport(crate::aws::describe("GetAccount", &e).1))?;
        let quota = out.send_quota();
        Ok(Account {
            production: out.production_access_enabled(),
            sending: out.sending_enabled(),
            max_24h: quota.map_or(0.0, |q| q.max24_hour_send()),
            sent_24h: quota.map_or(0.0, |q| q.sent_last24_hours()),
        })
    }

    /// Returns the SES message id.
    pub async fn send(&self, to: &str, raw: Vec<u8>) -> Result<String, MailError> {
        let raw = RawMessage::builder()
            .data(Blob::new(raw))
            .build()
            .map_err(|e| MailError::Transport(e.to_string()))?;
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .set_from_email_address_identity_arn(self.from_arn.clone())
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(classify)?;
        Ok(out.message_id.unwrap_or_default())
    }
}

/// Content or identity problems fail the same way every time: dead-letter them at once.
/// Throttling, paused sending and network trouble are worth retrying later.
fn classify(e: SdkError<SendEmailError>) -> MailError {
    let permanent = matches!(
        e.as_service_error(),
        Some(
            SendEmailError::MessageRejected(_)
                | SendEmailError::MailFromDomainNotVerifiedException(_)
                | SendEmailError::BadRequestException(_)
                | SendEmailError::NotFoundException(_)
        )
    );
    let text = match e.as_service_error() {
        Some(s) => format!(
            "SES {}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or("no message")
        ),
        None => format!(
            "SES unreachable: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(&e)
        ),
    };
    if permanent {
        MailError::Rejected(text)
    } else {
        MailError::Transport(text)
    }
}
