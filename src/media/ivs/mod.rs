//! Amazon IVS Real-Time, for audiences larger than one server's SFU carries. Pages join stages
//! with the IVS Web Broadcast SDK and a participant token minted here ([`token`]), so joining
//! costs no AWS call; this module makes the few control-plane calls the stage jobs need
//! (`features::live::stage`): create and delete a stage, start and stop its composed
//! recording, list and disconnect participants. Every call is idempotent or made so, because a
//! job that crashed half-way runs again.

pub mod token;

use aws_sdk_ivsrealtime::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::{
        CompositionState, DestinationConfiguration, GridConfiguration, LayoutConfiguration,
        ParticipantState, RecordingConfiguration, RecordingConfigurationFormat,
        S3DestinationConfiguration,
    },
};

use crate::config::IvsSettings;
pub use token::{Signer, Stage};

/// The token attribute that puts a participant (a shared screen) in the composition's large
/// slot.
pub const FEATURED: &str = "featured";

#[derive(Debug, thiserror::Error)]
pub enum IvsError {
    /// The stage, composition or participant is not there (any more).
    #[error("IVS: not found")]
    NotFound,
    /// The account's quota is used up (stages, concurrent compositions): another event must
    /// end first, or the quota be raised.
    #[error("IVS {0}")]
    Quota(String),
    #[error("IVS {0}")]
    Failed(String),
}

/// One participant IVS reports connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    pub participant_id: String,
    /// The token's `user_id`: our user id, or "guest".
    pub user_id: String,
    pub published: bool,
}

/// How a composition is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Composing {
    Running,
    Failed,
    Stopped,
}

#[derive(Clone)]
pub struct Ivs {
    client: Client,
    signer: std::sync::Arc<Signer>,
    /// Storage and encoder configuration ARNs; None: not recorded.
    recording: Option<(String, String)>,
    /// The IVS Web Broadcast SDK pages load, read once at start; None when it is not
    /// installed (pages then say so).
    pub web_sdk: Option<std::sync::Arc<str>>,
    /// Paces the calls IVS limits per account (GetStage and ListParticipants: 5 a second)
    /// across every stage this instance reconciles.
    pace: std::sync::Arc<governor::DefaultDirectRateLimiter>,
}

/// At most this many paced calls a second (IVS allows 5 per account for each).
const PACED_PER_SECOND: u32 = 4;

fn failed<E: ProvideErrorMetadata + std::error::Error + 'static>(
    what: &str,
    e: SdkError<E>,
) -> IvsError {
    let quota = e
        .as_service_error()
        .is_some_and(|s| s.code() == Some("ServiceQuotaExceededException"));
    match crate::aws::describe(what, &e) {
        (true, _) => IvsError::NotFound,
        (false, text) if quota => IvsError::Quota(text),
        (false, text) => IvsError::Failed(text),
    }
}

/// Deleting, stopping or disconnecting what is already gone is done.
fn done<T, E: ProvideErrorMetadata + std::error::Error + 'static>(
    what: &str,
    r: Result<T, SdkError<E>>,
) -> Result<(), IvsError> {
    match r.map_err(|e| failed(what, e)) {
        Ok(_) | Err(IvsError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

impl Ivs {
    pub async fn new(settings: &IvsSettings) -> Result<Ivs, token::TokenError> {
        let sdk = crate::aws::sdk_config(&settings.region, settings.endpoint_url.as_ref()).await;
        Ok(Ivs {
            client: Client::new(&sdk),
            signer: std::sync::Arc::new(Signer::from_pem(
                settings.private_key.expose().as_bytes(),
                &settings.public_key_arn,
            )?),
            recording: settings.recording.clone(),
            pace: std::sync::Arc::new(governor::RateLimiter::direct(
                governor::Quota::with_period(std::time::Duration::from_secs(1) / PACED_PER_SECOND)
                    .expect("a non-zero period")
                    .allow_burst(std::num::NonZeroU32::MIN),
            )),
            web_sdk: match tokio::fs::read_to_string(&settings.web_sdk).await {
                Ok(js) => Some(js.into()),
                Err(e) => {
                    tracing::warn!(path = %settings.web_sdk.display(), error = %e, "the IVS Web Broadcast SDK is not there, so pages cannot join stages; run `npm ci --prefix static/vendor` (README)");
                    None
                }
            },
        })
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Creates a stage named after the event, tagged with its id (so an operator can tell
    /// whose a stage is in the console).
    pub async fn create_stage(&self, event_id: &str) -> Result<Stage, IvsError> {
        let out = self
            .client
            .create_stage()
            .name(format!("meetstage-{event_id}"))
            .tags("meetstage:event", event_id)
            .send()
            .await
            .map_err(|e| failed("CreateStage", e))?;
        let stage = out
            .stage
            .ok_or_else(|| IvsError::Failed("CreateStage: no stage in the answer".into()))?;
        let endpoints = stage.endpoints();
        Ok(Stage {
            arn: stage.arn().to_string(),
            whip_url: endpoints.and_then(|e| e.whip()).unwrap_or_default().into(),
            events_url: endpoints
                .and_then(|e| e.events())
                .unwrap_or_default()
                .into(),
        })
    }

    /// Deletes a stage (which disconnects everyone on it); one already gone is fine.
    pub async fn delete_stage(&self, arn: &str) -> Result<(), IvsError> {
        done(
            "DeleteStage",
            self.client.delete_stage().arn(arn).send().await,
        )
    }

    /// Whether recording is configured at all.
    pub fn records(&self) -> bool {
        self.recording.is_some()
    }

    /// Starts the composed recording of a stage to S3, the screen share in the large slot.
    /// `idempotency` makes a retried start return the same composition.
    pub async fn start_composition(
        &self,
        stage_arn: &str,
        event_id: &str,
        idempotency: &str,
    ) -> Result<Option<String>, IvsError> {
        let Some((storage, encoder)) = &self.recording else {
            return Ok(None);
        };
        let s3 = S3DestinationConfiguration::builder()
            .storage_configuration_arn(storage)
            .encoder_configuration_arns(encoder)
            .recording_configuration(
                RecordingConfiguration::builder()
                    .format(RecordingConfigurationFormat::Hls)
                    .build(),
            )
            .build()
            .map_err(|e| IvsError::Failed(format!("StartComposition: {e}")))?;
        let out = self
            .client
            .start_composition()
            .stage_arn(stage_arn)
            .idempotency_token(idempotency)
            .layout(
                LayoutConfiguration::builder()
                    .grid(
                        GridConfiguration::builder()
                            .featured_participant_attribute(FEATURED)
                            .build(),
                    )
                    .build(),
            )
            .destinations(
                DestinationConfiguration::builder()
                    .name("recording")
                    .s3(s3)
                    .build(),
            )
            .tags("meetstage:event", event_id)
            .send()
            .await
            .map_err(|e| failed("StartComposition", e))?;
        Ok(out.composition.map(|c| c.arn().to_string()))
    }

    pub async fn composition(&self, arn: &str) -> Result<Composing, IvsError> {
        let out = self
            .client
            .get_composition()
            .arn(arn)
            .send()
            .await
            .map_err(|e| failed("GetComposition", e))?;
        Ok(match out.composition.as_ref().map(|c| c.state()) {
            Some(CompositionState::Failed) => Composing::Failed,
            Some(CompositionState::Stopped | CompositionState::Stopping) | None => {
                Composing::Stopped
            }
            Some(_) => Composing::Running,
        })
    }

    /// Stops a composition; one already stopped or gone is fine.
    pub async fn stop_composition(&self, arn: &str) -> Result<(), IvsError> {
        done(
            "StopComposition",
            self.client.stop_composition().arn(arn).send().await,
        )
    }

    /// Ends a participant's connection; one not connected is fine.
    pub async fn disconnect(
        &self,
        stage_arn: &str,
        participant_id: &str,
        reason: &str,
    ) -> Result<(), IvsError> {
        done(
            "DisconnectParticipant",
            self.client
                .disconnect_participant()
                .stage_arn(stage_arn)
                .participant_id(participant_id)
                .reason(reason)
                .send()
                .await,
        )
    }

    /// Everyone connected to the stage's current session (none when nobody is on it).
    pub async fn connected(&self, stage_arn: &str) -> Result<Vec<Connected>, IvsError> {
        self.pace.until_ready().await;
        let stage = self
            .client
            .get_stage()
            .arn(stage_arn)
            .send()
            .await
            .map_err(|e| failed("GetStage", e))?;
        let Some(session) = stage.stage.and_then(|s| s.active_session_id) else {
            return Ok(Vec::new());
        };
        let mut all = Vec::new();
        let mut next = None;
        // Bounded: 100 pages of 100 is the largest stage IVS allows (10,000 subscribers).
        for _ in 0..100 {
            self.pace.until_ready().await;
            let out = self
                .client
                .list_participants()
                .stage_arn(stage_arn)
                .session_id(&session)
                .filter_by_state(ParticipantState::Connected)
                .max_results(100)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| failed("ListParticipants", e))?;
            all.extend(out.participants.into_iter().map(|p| Connected {
                published: p.published(),
                participant_id: p.participant_id.unwrap_or_default(),
                user_id: p.user_id.unwrap_or_default(),
            }));
            match out.next_token {
                Some(t) if !t.is_empty() => next = Some(t),
                _ => break,
            }
        }
        Ok(all)
    }
}
