//! Accounts: sign-up, email verification, login with lockout, sessions, password reset,
//! profile changes and deletion.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{Change, Core, Error, FieldErrors, Result, email, new_id, validation::single_line};
use crate::{
    clock::from_ms,
    jobs::Job,
    store::{
        Conflict, StoreError, Tx,
        accounts::{NewUser, UserRow},
        outbox::NewMail,
    },
};

pub const MAX_FAILED_LOGINS: i32 = 5;
pub const LOCKOUT: Duration = Duration::minutes(15);
const VERIFY_TTL: Duration = Duration::hours(48);
const RESET_TTL: Duration = Duration::hours(1);
/// Sessions are extended at most this often, so a busy page does not write on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The clean-up job runs this often.
const CLEANUP_EVERY_MS: i64 = 10 * 60_000;
const CLEANUP_KEY: &str = "cleanup";

/// Makes sure the recurring clean-up job exists (one row, keyed `cleanup`).
pub async fn schedule_cleanup(core: &Core) -> Result<()> {
    let now = core.clock.now_ms();
    let job = Job::Cleanup.at(now, Some(CLEANUP_KEY.into()));
    Ok(core.store.schedule_job(&job, now).await?)
}

/// Job handler: deletes expired sessions, account tokens and old login failures, then
/// schedules itself again.
pub async fn cleanup(core: &Core) -> anyhow::Result<()> {
    let now = core.clock.now_ms();
    let removed = core.store.delete_expired(now).await?;
    if removed > 0 {
        tracing::info!(removed, "expired sessions and tokens deleted");
    }
    let job = Job::Cleanup.at(now + CLEANUP_EVERY_MS, Some(CLEANUP_KEY.into()));
    core.store.schedule_job(&job, now).await?;
    Ok(())
}

// --- parsed inputs ------------------------------------------------------------------------

/// A syntactically valid, lower-cased email address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> std::result::Result<Email, String> {
        let s = raw.trim().to_lowercase();
        let bad = || Err("Enter an email address like name@example.org.".to_string());
        if s.is_empty() {
            return Err("Email is required.".into());
        }
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad();
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return bad();
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return bad();
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> std::result::Result<DisplayName, String> {
        single_line(raw, "Display name", 80).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy: 12 to 256 characters, not a known common password.
/// No composition rules and no truncation (OWASP ASVS 6.2).
pub struct Password(String);

static COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

impl Password {
    pub fn parse(raw: &str, email: Option<&str>) -> std::result::Result<Password, String> {
        let n = raw.chars().count();
        if n < 12 {
            return Err("Use at least 12 characters.".into());
        }
        if n > 256 {
            return Err("Use at most 256 characters.".into());
        }
        let lower = raw.to_lowercase();
        let first = lower.chars().next().unwrap_or(' ');
        if lower.chars().all(|c| c == first)
            || COMMON_PASSWORDS.lines().any(|p| p == lower)
            || email.is_some_and(|e| e == lower)
        {
            return Err("This password is too common. Choose one that is harder to guess.".into());
        }
        Ok(Password(raw.to_string()))
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(REDACTED)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Organizer,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "member" => Some(Role::Member),
            "organizer" => Some(Role::Organizer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Organizer => "organizer",
            Role::Admin => "admin",
        }
    }
}

// --- the signed-in user -------------------------------------------------------------------

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
            role: Role::parse(&r.role).ok_or_else(|| super::corrupt("user role", &r.role))?,
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

// --- password hashing ---------------------------------------------------------------------

/// Argon2id with the OWASP parameters (19 MiB, 2 passes, 1 lane), run off the async threads
/// and behind a semaphore so a login storm cannot take more than `permits × 19 MiB`.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Argon2 computations so far: lets tests check that every path pays the same cost.
    computed: Arc<AtomicU64>,
}

impl Hasher {
    pub fn new(max_concurrent: usize) -> Self {
        Hasher {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            computed: Arc::default(),
        }
    }

    /// How many Argon2 hashes or verifications this hasher has computed.
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    pub async fn hash(&self, password: &Password) -> Result<String> {
        let _permit = self.permits.acquire().await.map_err(anyhow::Error::from)?;
        let pw = password.0.clone();
        let computed = self.computed.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            computed.fetch_add(1, Ordering::Relaxed);
            Argon2::default()
                .hash_password(pw.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
        })
        .await
        .map_err(anyhow::Error::from)?
        .map_err(Error::Internal)
    }

    /// Verifies `password` against `hash`; an unusable hash (deleted account) never matches
    /// but costs the same time, so timing does not reveal which accounts exist.
    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool> {
        let _permit = self.permits.acquire().await.map_err(anyhow::Error::from)?;
        let pw = password.to_string();
        let hash = if hash.is_empty() {
            DUMMY_HASH.to_string()
        } else {
            hash.to_string()
        };
        let real = hash != DUMMY_HASH;
        let computed = self.computed.clone();
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("bad hash: {e}"))?;
            // Always compute, then look at `real`: the other order would skip the work for
            // unknown addresses and tell them apart by time.
            let matches = argon2_verify(&computed, &pw, &parsed);
            Ok(matches && real)
        })
        .await
        .map_err(anyhow::Error::from)?
        .map_err(Error::Internal)
    }
}

/// The one place a password is checked; counted, so tests can see that every path pays.
fn argon2_verify(computed: &AtomicU64, password: &str, hash: &PasswordHash<'_>) -> bool {
    computed.fetch_add(1, Ordering::Relaxed);
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A valid Argon2id hash of a random string, for equal-time failures.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$KlzC3C2bXnJD8P7y9tZ4GH6WbjS5c0Wz0nV8q0mJ7xI";

// --- tokens -------------------------------------------------------------------------------

/// 256 random bits, URL-safe; what goes in links and cookies.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Only hashes are stored, so a database leak yields no usable session or link.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

// --- use cases ----------------------------------------------------------------------------

pub struct SignupInput<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password: &'a str,
}

/// Creates a member account and mails its confirmation link, all in one transaction. The
/// answer is the same whether or not the address already has an account (the owner of an
/// existing one is mailed instead), and so is the time it takes: nobody learns from sign-up
/// which addresses are members.
pub async fn signup(core: &Core, input: SignupInput<'_>) -> Result<()> {
    let mut errors = FieldErrors::default();
    let email = errors.take("email", Email::parse(input.email));
    let name = errors.take("display_name", DisplayName::parse(input.display_name));
    let password = errors.take(
        "password",
        Password::parse(input.password, email.as_ref().map(Email::as_str)),
    );
    errors.clone().into_result()?;
    let (email, name, password) = (email.unwrap(), name.unwrap(), password.unwrap());
    // Hashed either way, so both answers cost the same.
    let hash = core.hasher.hash(&password).await?;
    let now = core.clock.now();
    let mut change = Change::new(now.timestamp_millis());
    if let Some(existing) = core.store.user_by_email(email.as_str()).await? {
        // At most one such mail an hour, however often someone tries.
        let hour = now.timestamp_millis() / 3_600_000;
        change.effects.mails.push(email::account_mail(
            email::ACCOUNT_EXISTS,
            &existing.id,
            None,
            email::Payload::default(),
            hour.to_string(),
            now.timestamp_millis(),
        ));
        let tx = core.store.begin().await?;
        return core.commit(tx, change).await;
    }
    let id = new_id();
    let mut tx = core.store.begin().await?;
    let inserted = tx
        .insert_user(NewUser {
            id: &id,
            email: email.as_str(),
            display_name: name.as_str(),
            password_hash: &hash,
            role: Role::Member.as_str(),
            email_verified_at: None,
            now: now.timestamp_millis(),
        })
        .await;
    match inserted {
        // Someone signed up with the same address a moment ago: the same answer.
        Err(StoreError::Conflict(Conflict::UserEmail)) => return Ok(()),
        other => other?,
    }
    verification_link(&mut tx, &mut change, &id, now).await?;
    core.commit(tx, change).await
}

/// Mails a fresh confirmation link to the account's address (earlier links stop working).
pub async fn send_verification(core: &Core, user: &User) -> Result<()> {
    let now = core.clock.now();
    let mut change = Change::new(now.timestamp_millis());
    let mut tx = core.store.begin().await?;
    verification_link(&mut tx, &mut change, &user.id, now).await?;
    core.commit(tx, change).await
}

async fn verification_link(
    tx: &mut Tx,
    change: &mut Change,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let token = random_token();
    tx.insert_token(
        &token_hash(&token),
        user_id,
        "verify_email",
        None,
        now.timestamp_millis(),
        (now + VERIFY_TTL).timestamp_millis(),
    )
    .await?;
    change
        .effects
        .mails
        .push(link_mail(email::VERIFY_EMAIL, user_id, None, &token, now));
    Ok(())
}

/// An account mail whose link carries `token` (the key is the token's hash, so each link is
/// mailed once).
fn link_mail(
    purpose: &'static str,
    user_id: &str,
    to: Option<&str>,
    token: &str,
    now: DateTime<Utc>,
) -> NewMail {
    let payload = email::Payload {
        token: Some(token.to_string()),
        ..Default::default()
    };
    email::account_mail(
        purpose,
        user_id,
        to,
        payload,
        token_hash(token),
        now.timestamp_millis(),
    )
}

/// Confirms an email address from a link: a new account's, or a changed one.
pub async fn verify_email(core: &Core, token: &str) -> Result<()> {
    let now = core.clock.now_ms();
    let hash = token_hash(token);
    let mut tx = core.store.begin().await?;
    if let Some(t) = tx.consume_token(&hash, "verify_email", now).await? {
        tx.mark_email_verified(&t.user_id, now).await?;
        return core.commit(tx, Change::new(now)).await;
    }
    if let Some(t) = tx.consume_token(&hash, "change_email", now).await? {
        let new_email = t.new_email.ok_or(Error::NotFound)?;
        return match tx.set_email(&t.user_id, &new_email, now).await {
            Err(StoreError::Conflict(Conflict::UserEmail)) => Err(Error::Conflict(
                "Another account now uses that email address.".into(),
            )),
            Err(e) => Err(e.into()),
            Ok(()) => core.commit(tx, Change::new(now)).await,
        };
    }
    Err(Error::Conflict(
        "This link has expired or was already used.".into(),
    ))
}

const BAD_LOGIN: &str = "Email or password is incorrect.";

/// Where failed logins are counted: the address and the client together, so a stranger
/// elsewhere cannot lock the owner out, and an address without an account is counted (and
/// answered) exactly like one with an account.
fn login_key(email: &Email, client: IpAddr) -> String {
    hex::encode(Sha256::digest(format!("{}\0{client}", email.as_str())))
}

/// Checks credentials; five failures in a row from one client lock that address for that
/// client for 15 minutes, and mail the owner once (if there is an owner). Unknown addresses
/// take the same time and get the same answers. Returns the user and a new session token.
pub async fn login(
    core: &Core,
    email: &str,
    password: &str,
    client: IpAddr,
) -> Result<(User, String)> {
    let bad = || Error::Invalid(FieldErrors::single("password", BAD_LOGIN));
    let Ok(email) = Email::parse(email) else {
        return Err(bad());
    };
    let key = login_key(&email, client);
    let now = core.clock.now();
    if let Some(until) = core
        .store
        .login_locked_until(&key, now.timestamp_millis())
        .await?
    {
        return Err(super::locked(from_ms(until), now));
    }
    let row = core.store.user_by_email(email.as_str()).await?;
    let row = row.filter(|r| r.deleted_at.is_none());
    let hash = row.as_ref().map_or("", |r| r.password_hash.as_str());
    let matches = core.hasher.verify(password, hash).await?;
    if let (true, Some(row)) = (matches, &row) {
        if row.banned_at.is_some() {
            return Err(Error::Forbidden(
                "This account is banned from this community.".into(),
            ));
        }
        if row.disabled_at.is_some() {
            return Err(Error::Forbidden(
                "This account is disabled. Contact an administrator.".into(),
            ));
        }
        core.store.clear_login_failures(&key).await?;
        let user = User::try_from(row)?;
        let token = create_session(core, &user.id).await?;
        return Ok((user, token));
    }
    let lock = core
        .store
        .record_login_failure(
            &key,
            now.timestamp_millis(),
            MAX_FAILED_LOGINS,
            (now + LOCKOUT).timestamp_millis(),
        )
        .await?;
    match lock {
        Some(until) => {
            if let Some(row) = &row {
                notify_lockout(core, row, from_ms(until)).await;
            }
            Err(super::locked(from_ms(until), now))
        }
        None => Err(bad()),
    }
}

async fn notify_lockout(core: &Core, row: &UserRow, until: DateTime<Utc>) {
    // Once per lock: the key is the lock's end.
    let payload = email::Payload {
        until: Some(until.timestamp_millis()),
        ..Default::default()
    };
    let mail = email::account_mail(
        email::ACCOUNT_LOCKED,
        &row.id,
        None,
        payload,
        until.timestamp_millis().to_string(),
        core.clock.now_ms(),
    );
    if let Err(e) = core.store.enqueue_mail(&mail).await {
        tracing::error!(error = %e, "could not queue the lockout notice");
    }
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

pub async fn logout(core: &Core, session: &Session) -> Result<()> {
    Ok(core.store.delete_session(&session.id_hash).await?)
}

/// Sends a reset link if the account exists; the answer is the same either way.
pub async fn request_password_reset(core: &Core, email: &str) -> Result<()> {
    let email = Email::parse(email).map_err(|m| FieldErrors::single("email", m))?;
    let Some(row) = core.store.user_by_email(email.as_str()).await? else {
        return Ok(());
    };
    if row.deleted_at.is_some() {
        return Ok(());
    }
    let token = random_token();
    let now = core.clock.now();
    let mut change = Change::new(now.timestamp_millis());
    let mut tx = core.store.begin().await?;
    tx.insert_token(
        &token_hash(&token),
        &row.id,
        "reset_password",
        None,
        now.timestamp_millis(),
        (now + RESET_TTL).timestamp_millis(),
    )
    .await?;
    change
        .effects
        .mails
        .push(link_mail(email::RESET_PASSWORD, &row.id, None, &token, now));
    core.commit(tx, change).await
}

/// Sets a new password from a reset link; every session ends.
pub async fn reset_password(core: &Core, token: &str, new_password: &str) -> Result<()> {
    let password =
        Password::parse(new_password, None).map_err(|m| FieldErrors::single("password", m))?;
    let hash = core.hasher.hash(&password).await?;
    let now = core.clock.now_ms();
    let mut tx = core.store.begin().await?;
    let Some(t) = tx
        .consume_token(&token_hash(token), "reset_password", now)
        .await?
    else {
        return Err(Error::Conflict(
            "This reset link has expired or was already used. Ask for a new one.".into(),
        ));
    };
    tx.set_password_hash(&t.user_id, &hash, now).await?;
    tx.delete_user_sessions(&t.user_id, None).await?;
    core.commit(tx, Change::new(now)).await
}

/// The signed-in person as stored now (after a change the session still holds the old values).
pub async fn current_user(core: &Core, session: &Session) -> Result<User> {
    let row = core
        .store
        .user_by_id(&session.user.id)
        .await?
        .ok_or(Error::NotFound)?;
    User::try_from(&row)
}

pub async fn change_display_name(core: &Core, session: &Session, name: &str) -> Result<()> {
    let name = DisplayName::parse(name).map_err(|m| FieldErrors::single("display_name", m))?;
    Ok(core
        .store
        .set_display_name(&session.user.id, name.as_str(), core.clock.now_ms())
        .await?)
}

async fn check_current_password(core: &Core, session: &Session, current: &str) -> Result<()> {
    let row = core
        .store
        .user_by_id(&session.user.id)
        .await?
        .ok_or(Error::NotFound)?;
    if core.hasher.verify(current, &row.password_hash).await? {
        Ok(())
    } else {
        Err(FieldErrors::single("current_password", "Your current password is not correct.").into())
    }
}

/// Changes the password after checking the current one; every other session ends, and so
/// does every open reset link.
pub async fn change_password(
    core: &Core,
    session: &Session,
    current: &str,
    new: &str,
) -> Result<()> {
    let password = Password::parse(new, Some(&session.user.email))
        .map_err(|m| FieldErrors::single("new_password", m))?;
    check_current_password(core, session, current).await?;
    let hash = core.hasher.hash(&password).await?;
    let now = core.clock.now_ms();
    let mut tx = core.store.begin().await?;
    tx.set_password_hash(&session.user.id, &hash, now).await?;
    tx.delete_user_sessions(&session.user.id, Some(&session.id_hash))
        .await?;
    core.commit(tx, Change::new(now)).await
}

/// Starts an email change: the new address gets a confirmation link, and only the click
/// makes the change.
pub async fn change_email(
    core: &Core,
    session: &Session,
    current: &str,
    new_email: &str,
) -> Result<()> {
    let email = Email::parse(new_email).map_err(|m| FieldErrors::single("email", m))?;
    check_current_password(core, session, current).await?;
    if core.store.user_by_email(email.as_str()).await?.is_some() {
        return Err(
            FieldErrors::single("email", "Another account already uses this email.").into(),
        );
    }
    let token = random_token();
    let now = core.clock.now();
    let mut change = Change::new(now.timestamp_millis());
    let mut tx = core.store.begin().await?;
    tx.insert_token(
        &token_hash(&token),
        &session.user.id,
        "change_email",
        Some(email.as_str()),
        now.timestamp_millis(),
        (now + VERIFY_TTL).timestamp_millis(),
    )
    .await?;
    change.effects.mails.push(link_mail(
        email::CHANGE_EMAIL,
        &session.user.id,
        Some(email.as_str()),
        &token,
        now,
    ));
    core.commit(tx, change).await
}

/// Deletes the account after checking the password: the person's events that have not ended
/// are cancelled the way an organizer cancels them (registrants mailed, end jobs dropped, live
/// rooms told), then personal data is erased and registrations released, promoting waitlists,
/// in one transaction.
pub async fn delete_account(core: &Core, session: &Session, current: &str) -> Result<()> {
    check_current_password(core, session, current).await?;
    for event_id in core.store.open_events_of_owner(&session.user.id).await? {
        super::events::cancel_as_owner_leaves(core, &event_id).await?;
    }
    let now = core.clock.now_ms();
    let mut change = Change::new(now);
    let mut tx = core.store.begin().await?;
    let released = tx.anonymise_user(&session.user.id, now).await?;
    for event_id in released {
        if let Some(capacity) = tx.lock_open_event(&event_id).await? {
            super::registrations::fill_free_seats(&mut tx, &event_id, capacity, &mut change)
                .await?;
        }
    }
    core.commit(tx, change).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.ORG ").unwrap().as_str(),
            "ada@example.org"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a da@example.org",
            "ada@@example.org",
            "ada@.example.org",
            "ada@example..org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.org", "a".repeat(65))).is_err());
    }

    #[test]
    fn password_policy_is_length_and_commonness_only() {
        assert!(Password::parse("elevenchars", None).is_err());
        assert!(Password::parse("twelve chars", None).is_ok());
        assert!(
            Password::parse("ÄÖÜäöüßéèêëï", None).is_ok(),
            "counted in characters, not bytes"
        );
        assert!(
            Password::parse("Password1234", None).is_err(),
            "common, case-insensitively"
        );
        assert!(Password::parse("aaaaaaaaaaaaaaaa", None).is_err());
        assert!(Password::parse("ada@example.org", Some("ada@example.org")).is_err());
        assert!(
            Password::parse(&"x y".repeat(100), None).is_err(),
            "over 256 characters"
        );
        assert_eq!(
            format!("{:?}", Password::parse("twelve chars", None).unwrap()),
            "Password(REDACTED)"
        );
    }

    #[test]
    fn tokens_carry_256_bits_and_only_hashes_are_stored() {
        let a = random_token();
        assert_eq!(a.len(), 43, "32 bytes, base64url without padding");
        assert_ne!(a, random_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
