//! Accounts: sign-up, email verification, login with lockout, sessions, password reset,
//! profile changes and deletion.

use std::sync::Arc;

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{Core, Error, FieldErrors, Result, email, new_id, validation::single_line};
use crate::{
    clock::from_ms,
    store::{
        StoreError,
        accounts::{NewUser, UserRow},
    },
};

pub const MAX_FAILED_LOGINS: i32 = 5;
pub const LOCKOUT: Duration = Duration::minutes(15);
const VERIFY_TTL: Duration = Duration::hours(48);
const RESET_TTL: Duration = Duration::hours(1);
/// Sessions are extended at most this often, so a busy page does not write on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

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

impl From<&UserRow> for User {
    fn from(r: &UserRow) -> Self {
        User {
            id: r.id.clone(),
            email: r.email.clone(),
            display_name: r.display_name.clone(),
            role: Role::parse(&r.role).unwrap_or(Role::Member),
            verified: r.email_verified_at.is_some(),
            disabled: r.disabled_at.is_some(),
            banned: r.banned_at.is_some(),
            created_at: from_ms(r.created_at),
        }
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
}

impl Hasher {
    pub fn new(max_concurrent: usize) -> Self {
        Hasher {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    pub async fn hash(&self, password: &Password) -> Result<String> {
        let _permit = self.permits.acquire().await.map_err(anyhow::Error::from)?;
        let pw = password.0.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
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
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("bad hash: {e}"))?;
            Ok(real
                && Argon2::default()
                    .verify_password(pw.as_bytes(), &parsed)
                    .is_ok())
        })
        .await
        .map_err(anyhow::Error::from)?
        .map_err(Error::Internal)
    }
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

/// Creates a member account, sends the verification link and logs the person in.
/// Returns the session token for the cookie.
pub async fn signup(core: &Core, input: SignupInput<'_>) -> Result<(User, String)> {
    let mut errors = FieldErrors::default();
    let email = errors.take("email", Email::parse(input.email));
    let name = errors.take("display_name", DisplayName::parse(input.display_name));
    let password = errors.take(
        "password",
        Password::parse(input.password, email.as_ref().map(Email::as_str)),
    );
    errors.clone().into_result()?;
    let (email, name, password) = (email.unwrap(), name.unwrap(), password.unwrap());
    if core.store.user_by_email(email.as_str()).await?.is_some() {
        return Err(FieldErrors::single(
            "email",
            "An account with this email already exists. Log in, or reset your password.",
        )
        .into());
    }
    let hash = core.hasher.hash(&password).await?;
    let id = new_id();
    let now = core.clock.now_ms();
    let inserted = core
        .store
        .insert_user(NewUser {
            id: &id,
            email: email.as_str(),
            display_name: name.as_str(),
            password_hash: &hash,
            role: Role::Member.as_str(),
            email_verified_at: None,
            now,
        })
        .await;
    match inserted {
        Err(StoreError::Conflict(_)) => {
            return Err(
                FieldErrors::single("email", "An account with this email already exists.").into(),
            );
        }
        other => other?,
    }
    let row = core.store.user_by_id(&id).await?.ok_or(Error::NotFound)?;
    let user = User::from(&row);
    send_verification(core, &user).await?;
    let token = create_session(core, &user.id).await?;
    Ok((user, token))
}

pub async fn send_verification(core: &Core, user: &User) -> Result<()> {
    let token = random_token();
    let now = core.clock.now();
    core.store
        .insert_token(
            &token_hash(&token),
            &user.id,
            "verify_email",
            None,
            now.timestamp_millis(),
            (now + VERIFY_TTL).timestamp_millis(),
        )
        .await?;
    queue_link_mail(core, email::VERIFY_EMAIL, &user.id, None, &token).await
}

/// Queues an account mail whose link carries `token` (the key is the token's hash, so each
/// link is mailed once).
async fn queue_link_mail(
    core: &Core,
    purpose: &'static str,
    user_id: &str,
    to: Option<&str>,
    token: &str,
) -> Result<()> {
    let payload = email::Payload {
        token: Some(token.to_string()),
        ..Default::default()
    };
    let mail = email::account_mail(
        purpose,
        user_id,
        to,
        payload,
        token_hash(token),
        core.clock.now_ms(),
    );
    Ok(core.store.enqueue_mail(&mail).await?)
}

/// Confirms an email address from a link: a new account's, or a changed one.
pub async fn verify_email(core: &Core, token: &str) -> Result<()> {
    let now = core.clock.now_ms();
    let hash = token_hash(token);
    if let Some(t) = core.store.consume_token(&hash, "verify_email", now).await? {
        core.store.mark_email_verified(&t.user_id, now).await?;
        return Ok(());
    }
    if let Some(t) = core.store.consume_token(&hash, "change_email", now).await? {
        let new_email = t.new_email.ok_or(Error::NotFound)?;
        return match core.store.set_email(&t.user_id, &new_email, now).await {
            Err(StoreError::Conflict(_)) => Err(Error::Conflict(
                "Another account now uses that email address.".into(),
            )),
            other => Ok(other?),
        };
    }
    Err(Error::Conflict(
        "This link has expired or was already used.".into(),
    ))
}

const BAD_LOGIN: &str = "Email or password is incorrect.";

/// Checks credentials; five failures in a row lock the account for 15 minutes and mail the
/// owner once. Returns the user and a new session token.
pub async fn login(core: &Core, email: &str, password: &str) -> Result<(User, String)> {
    let bad = || Error::Invalid(FieldErrors::single("password", BAD_LOGIN));
    let Ok(email) = Email::parse(email) else {
        return Err(bad());
    };
    let row = core.store.user_by_email(email.as_str()).await?;
    let Some(mut row) = row.filter(|r| r.deleted_at.is_none()) else {
        core.hasher.verify(password, "").await?;
        return Err(bad());
    };
    let now = core.clock.now();
    if let Some(until) = row.locked_until.map(from_ms).filter(|u| *u > now) {
        return Err(super::locked(until, now));
    }
    if core.hasher.verify(password, &row.password_hash).await? {
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
        if row.failed_logins != 0 || row.locked_until.is_some() {
            core.store
                .set_failed_logins(&row.id, row.failed_logins, 0, None, now.timestamp_millis())
                .await?;
        }
        let user = User::from(&row);
        let token = create_session(core, &user.id).await?;
        return Ok((user, token));
    }
    // Count the failure with compare-and-set so parallel attempts are all counted.
    loop {
        let expired_lock = row.locked_until.is_some();
        let failures = if expired_lock {
            1
        } else {
            row.failed_logins + 1
        };
        let lock = (failures >= MAX_FAILED_LOGINS).then(|| now + LOCKOUT);
        let stored = core
            .store
            .set_failed_logins(
                &row.id,
                row.failed_logins,
                failures,
                lock.map(|l| l.timestamp_millis()),
                now.timestamp_millis(),
            )
            .await?;
        if stored {
            if let Some(until) = lock {
                notify_lockout(core, &row, until).await;
                return Err(super::locked(until, now));
            }
            return Err(bad());
        }
        row = core.store.user_by_id(&row.id).await?.ok_or_else(bad)?;
        if let Some(until) = row.locked_until.map(from_ms).filter(|u| *u > now) {
            return Err(super::locked(until, now));
        }
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

/// Resolves a session cookie to its user, sliding the expiry forward. Disabled and banned
/// accounts have no live sessions.
pub async fn authenticate(core: &Core, token: &str) -> Result<Option<Session>> {
    let id_hash = token_hash(token);
    let now = core.clock.now_ms();
    let Some(row) = core.store.session_user(&id_hash, now).await? else {
        return Ok(None);
    };
    if row.user.disabled_at.is_some()
        || row.user.banned_at.is_some()
        || row.user.deleted_at.is_some()
    {
        core.store.delete_session(&id_hash).await?;
        return Ok(None);
    }
    if now - row.session_last_seen_at > TOUCH_EVERY_MS {
        let expires = now + i64::from(core.config.session_idle_hours) * 3_600_000;
        core.store.touch_session(&id_hash, now, expires).await?;
    }
    Ok(Some(Session {
        user: User::from(&row.user),
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
    core.store
        .insert_token(
            &token_hash(&token),
            &row.id,
            "reset_password",
            None,
            now.timestamp_millis(),
            (now + RESET_TTL).timestamp_millis(),
        )
        .await?;
    queue_link_mail(core, email::RESET_PASSWORD, &row.id, None, &token).await
}

/// Sets a new password from a reset link and ends every session of the account.
pub async fn reset_password(core: &Core, token: &str, new_password: &str) -> Result<()> {
    let password =
        Password::parse(new_password, None).map_err(|m| FieldErrors::single("password", m))?;
    let hash = core.hasher.hash(&password).await?;
    let now = core.clock.now_ms();
    let Some(t) = core
        .store
        .consume_token(&token_hash(token), "reset_password", now)
        .await?
    else {
        return Err(Error::Conflict(
            "This reset link has expired or was already used. Ask for a new one.".into(),
        ));
    };
    core.store.set_password_hash(&t.user_id, &hash, now).await?;
    core.store.delete_user_sessions(&t.user_id, None).await?;
    Ok(())
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

/// Changes the password after checking the current one; every other session ends.
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
    core.store
        .set_password_hash(&session.user.id, &hash, core.clock.now_ms())
        .await?;
    core.store
        .delete_user_sessions(&session.user.id, Some(&session.id_hash))
        .await?;
    Ok(())
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
    core.store
        .insert_token(
            &token_hash(&token),
            &session.user.id,
            "change_email",
            Some(email.as_str()),
            now.timestamp_millis(),
            (now + VERIFY_TTL).timestamp_millis(),
        )
        .await?;
    queue_link_mail(
        core,
        email::CHANGE_EMAIL,
        &session.user.id,
        Some(email.as_str()),
        &token,
    )
    .await
}

/// Deletes the account after checking the password: personal data is erased, registrations
/// are released (promoting waitlists) and the person's upcoming events are cancelled.
pub async fn delete_account(core: &Core, session: &Session, current: &str) -> Result<()> {
    check_current_password(core, session, current).await?;
    let now = core.clock.now_ms();
    core.store
        .cancel_events_of_owner(&session.user.id, now)
        .await?;
    let events = core.store.anonymise_user(&session.user.id, now).await?;
    for event_id in events {
        let confirm = email::confirmation(event_id.clone(), now);
        core.store.promote_waitlist(&event_id, &confirm).await?;
    }
    Ok(())
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
