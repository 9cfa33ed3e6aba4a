//! The mail seam. Features describe a message as [`Content`]; a [`Mailer`] renders it to text
//! and HTML with the community's branding and hands it to a transport. The `log` transport
//! writes each message as an `.eml` file under `<data dir>/mail/`; `smtp` uses lettre and `ses`
//! Amazon SES v2 ([`ses`]).

mod ses;

use std::path::PathBuf;

use askama::Template;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Mailbox, MultiPart,
        header::{ContentType, Header, HeaderName, HeaderValue},
    },
};

use crate::config::{Config, MailerKind};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("bad address: {0}")]
    Address(String),
    #[error("could not build the message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("could not render the message: {0}")]
    Render(#[from] askama::Error),
    #[error("could not write the message: {0}")]
    Io(#[from] std::io::Error),
    #[error("the mail server failed: {0}")]
    Transport(String),
    /// Sending it again would fail the same way (bad recipient, unverified sender).
    #[error("the mail server refused the message for good: {0}")]
    Rejected(String),
}

impl MailError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Address(_) | MailError::Rejected(_))
    }
}

/// What a mail says, independent of how it is rendered.
#[derive(Clone, Debug, Default)]
pub struct Content {
    pub subject: String,
    pub greeting: Option<String>,
    pub paragraphs: Vec<String>,
    pub action: Option<(String, String)>,
    pub note: Option<String>,
    pub attachment: Option<Attachment>,
    /// One-click unsubscribe: (URL, what it stops).
    pub unsubscribe: Option<(String, String)>,
}

/// A file sent along (the calendar invite).
#[derive(Clone, Debug)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub body: String,
}

impl Content {
    pub fn new(subject: impl Into<String>) -> Self {
        Content {
            subject: subject.into(),
            ..Content::default()
        }
    }

    pub fn greeting(mut self, name: &str) -> Self {
        self.greeting = Some(format!("Hi {name},"));
        self
    }

    pub fn para(mut self, p: impl Into<String>) -> Self {
        self.paragraphs.push(p.into());
        self
    }

    pub fn action(mut self, label: impl Into<String>, url: impl Into<String>) -> Self {
        self.action = Some((label.into(), url.into()));
        self
    }

    pub fn note(mut self, n: impl Into<String>) -> Self {
        self.note = Some(n.into());
        self
    }

    pub fn unsubscribe(mut self, url: String, what: &str) -> Self {
        self.unsubscribe = Some((url, what.to_string()));
        self
    }

    pub fn attach(mut self, a: Attachment) -> Self {
        self.attachment = Some(a);
        self
    }
}

#[derive(Template)]
#[template(path = "mail/layout.txt")]
struct TextMail<'a> {
    c: &'a Content,
    community: &'a str,
    home: String,
}

#[derive(Template)]
#[template(path = "mail/layout.html")]
struct HtmlMail<'a> {
    c: &'a Content,
    community: &'a str,
    accent: &'a str,
    home: String,
}

#[derive(Clone)]
pub enum Mailer {
    Log(LogMailer),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Ses(Box<ses::SesMailer>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Log(m) => write!(f, "Log({})", m.dir.display()),
            Mailer::Smtp(_) => f.write_str("Smtp"),
            Mailer::Ses(_) => f.write_str("Ses"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct LogMailer {
    dir: PathBuf,
}

/// How mail leaves, in a sentence for the admin; `warning` when people will not get it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailStatus {
    pub text: String,
    pub warning: bool,
}

impl Mailer {
    /// How mail leaves now. SES is asked about its account (at most 5 s): a new account is
    /// in the sandbox, where mail reaches only verified addresses.
    pub async fn status(&self) -> MailStatus {
        let (text, warning) = match self {
            Mailer::Log(m) => (
                format!(
                    "Mail is written to files in {} (the log mailer): nobody receives it.",
                    m.dir.display()
                ),
                true,
            ),
            Mailer::Smtp(_) => (
                "Mail goes out through the configured SMTP server.".into(),
                false,
            ),
            Mailer::Ses(ses) => {
                let asked = tokio::time::timeout(std::time::Duration::from_secs(5), ses.account());
                match asked.await {
                    Ok(Ok(a)) => ses_status(&a),
                    Ok(Err(e)) => (
                        format!("Amazon SES could not say how the account stands: {e}."),
                        true,
                    ),
                    Err(_) => ("Amazon SES did not answer within 5 seconds.".into(), true),
                }
            }
        };
        MailStatus { text, warning }
    }

    pub async fn from_config(config: &Config) -> Result<Mailer, MailError> {
        match &config.mailer {
            MailerKind::Log => {
                let dir = config.data_dir.join("mail");
                std::fs::create_dir_all(&dir)?;
                Ok(Mailer::Log(LogMailer { dir }))
            }
            MailerKind::Smtp { url } => {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map(|b| Mailer::Smtp(b.build()))
                    .map_err(|e| MailError::Transport(e.to_string()))
            }
            MailerKind::Ses(settings) => Ok(Mailer::Ses(Box::new(
                ses::SesMailer::new(settings, &config.mail_from).await,
            ))),
        }
    }

    /// Renders and sends one message. `id` (the outbox row's) names it, so a retry after a
    /// crash replaces rather than repeats it where the transport allows.
    pub async fn send(
        &self,
        config: &Config,
        id: &str,
        to: &str,
        content: Content,
    ) -> Result<(), MailError> {
        let message = render(config, id, to, &content)?;
        match self {
            Mailer::Log(m) => m.write(id, &message, &content.subject).await,
            Mailer::Smtp(t) => {
                t.send(message).await.map_err(|e| {
                    // 5xx replies (unknown mailbox, policy) will not change on a retry.
                    if e.is_permanent() {
                        MailError::Rejected(e.to_string())
                    } else {
                        MailError::Transport(e.to_string())
                    }
                })?;
                tracing::info!(mail.id = id, mail.subject = %content.subject, "mail sent over SMTP");
                Ok(())
            }
            Mailer::Ses(s) => {
                let ses_id = s.send(to, message.formatted()).await?;
                tracing::info!(mail.id = id, mail.ses_id = %ses_id, mail.subject = %content.subject, "mail sent through SES");
                Ok(())
            }
        }
    }
}

/// Builds the MIME message: plain text and HTML alternatives.
pub fn render(config: &Config, id: &str, to: &str, c: &Content) -> Result<Message, MailError> {
    let community = config.branding.community_name.as_str();
    let home = config.link("/");
    let text = TextMail {
        c,
        community,
        home: home.clone(),
    }
    .render()?;
    let html = HtmlMail {
        c,
        community,
        accent: &config.branding.accent_color,
        home,
    }
    .render()?;
    let from: Mailbox = config
        .mail_from
        .parse()
        .map_err(|_| MailError::Address(config.mail_from.clone()))?;
    let to: Mailbox = to.parse().map_err(|_| MailError::Address(to.to_string()))?;
    let body = MultiPart::alternative_plain_html(text, html);
    let body = match &c.attachment {
        None => body,
        Some(a) => {
            let content_type = ContentType::parse(&a.content_type)
                .map_err(|_| MailError::Address(a.content_type.clone()))?;
            MultiPart::mixed().multipart(body).singlepart(
                lettre::message::Attachment::new(a.filename.clone())
                    .body(a.body.clone(), content_type),
            )
        }
    };
    // The outbox id makes the Message-ID, so a resend after a crash is recognisably the same mail.
    let host = config.base_url.host_str().unwrap_or("localhost");
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(&c.subject)
        .message_id(Some(format!("<{id}@{host}>")));
    if let Some((url, _)) = &c.unsubscribe {
        // RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs here.
        builder = builder
            .header(ListUnsubscribe(format!("<{url}>")))
            .header(ListUnsubscribePost);
    }
    Ok(builder.multipart(body)?)
}

#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}

impl LogMailer {
    /// Writes `<id>.eml` atomically (temporary file, then rename): a crash leaves either no
    /// file or the whole message, and a retry overwrites instead of adding a second copy.
    async fn write(&self, id: &str, message: &Message, subject: &str) -> Result<(), MailError> {
        let path = self.dir.join(format!("{id}.eml"));
        // A name of its own per write, so two writers of one mail never share a half file.
        let tmp = self
            .dir
            .join(format!(".{id}.{}.tmp", uuid::Uuid::now_v7().simple()));
        tokio::fs::write(&tmp, message.formatted()).await?;
        tokio::fs::rename(&tmp, &path).await?;
        // The address is personal data and stays out of the log; the file has it.
        tracing::info!(mail.file = %path.display(), mail.subject = subject, "mail written");
        Ok(())
    }
}

/// The SES account in a sentence for the admin.
fn ses_status(a: &ses::Account) -> (String, bool) {
    // Quotas are whole numbers of mails; SES reports them as floating point.
    let (sent, max) = (a.sent_24h.round() as u64, a.max_24h.round() as u64);
    if !a.sending {
        (
            "Amazon SES has paused sending for this account (bounces or complaints): no mail \
             goes out until it is resumed in the SES console."
                .into(),
            true,
        )
    } else if !a.production {
        (
            format!(
                "Amazon SES is in its sandbox: mail reaches only addresses verified in SES, at \
                 most {max} a day ({sent} sent in the last 24 hours). Ask AWS for production \
                 access (docs/deploy-aws.md, step 4)."
            ),
            true,
        )
    } else {
        (
            format!(
                "Amazon SES, production access: {sent} of {max} mails sent in the last 24 hours."
            ),
            false,
        )
    }
}
