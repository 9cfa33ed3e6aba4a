//! The signed-in person: server-side sessions with a sliding expiry, and what a session
//! cookie turns out to be on each request.

use chrono::{DateTime, Duration, Utc};

use super::{Role, random_token, token_hash};
use crate::{
    clock::from_ms,
    features::{Core, Error, Result, corrupt},
    store::accounts::UserRow,
};

/// Sessions are extended at most this often, so a busy page does not write on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A user as the rest of the program sees them; built only from a database row.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub verified: bool,
    pub disabled: bool,
    pub banned: bool,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<&UserRow> for User {
    type Error = Error;

    fn try_from(r: &UserRow) -> Result<Self> {
        Ok(User {
            id: r.id.clone(),
            email: r.email.clone(),
            display_name: r.display_name.clone(),
            role: Role::parse(&r.role).ok_or_else(|| corrupt("user role", &r.role))?,
            verified: r.email_verified_at.is_some(),
            disabled: r.disabled_at.is_some(),
            banned: r.banned_at.is_some(),
            created_at: from_ms(r.created_at),
        })
    }
}

impl User {
    pub fn can_organize(&self) -> bool {
        self.role >= Role::Organizer
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A logged-in request: the user and the hash of the session that proved it.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    pub id_hash: String,
}

pub async fn create_session(core: &Core, user_id: &str) -> Result<String> {
    let token = random_token();
    let now = core.clock.now();
    let expires = now + Duration::hours(i64::from(core.config.session_idle_hours));
    core.store
        .insert_session(
            &token_hash(&token),
            user_id,
            now.timestamp_millis(),
            expires.timestamp_millis(),
        )
        .await?;
    Ok(token)
}

/// What a session cookie turned out to be.
pub enum SessionState {
    Active(Session),
    /// The account was disabled or banned (or deleted) since the session began; the session
    /// is gone now, and the person should be told why.
    Ended(EndedBecause),
    /// Unknown or expired.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedBecause {
    Disabled,
    Banned,
    Deleted,
}

impl EndedBecause {
    /// The notice key shown on the next page.
    pub fn notice(self) -> &'static str {
        match self {
            EndedBecause::Disabled => "account_disabled",
            EndedBecause::Banned => "account_banned",
            EndedBecause::Deleted => "account_deleted",
        }
    }
}

/// Resolves a session cookie to its user, sliding the expiry forward. Disabled, banned and
/// deleted accounts have no live sessions.
pub async fn authenticate(core: &Core, token: &str) -> Result<SessionState> {
    let id_hash = token_hash(token);
    let now = core.clock.now_ms();
    let Some(row) = core.store.session_user(&id_hash, now).await? else {
        return Ok(SessionState::None);
    };
    let ended = if row.user.deleted_at.is_some() {
        Some(EndedBecause::Deleted)
    } else if row.user.banned_at.is_some() {
        Some(EndedBecause::Banned)
    } else if row.user.disabled_at.is_some() {
        Some(EndedBecause::Disabled)
    } else {
        None
    };
    if let Some(why) = ended {
        core.store.delete_session(&id_hash).await?;
        return Ok(SessionState::Ended(why));
    }
    if now - row.session_last_seen_at > TOUCH_EVERY_MS {
        let expires = now + i64::from(core.config.session_idle_hours) * 3_600_000;
        core.store.touch_session(&id_hash, now, expires).await?;
    }
    Ok(SessionState::Active(Session {
        user: User::try_from(&row.user)?,
        id_hash,
    }))
}

/// Ends this session; the room sockets opened with it close.
pub async fn logout(core: &Core, session: &Session) -> Result<()> {
    let now = core.clock.now_ms();
    let mut tx = core.store.begin().await?;
    tx.delete_session(&session.id_hash).await?;
    let mut change = super::super::Change::new(now);
    super::signed_out(&mut change, &session.user.id, Some(&session.id_hash), None);
    core.commit(tx, change).await
}
