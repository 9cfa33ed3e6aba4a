//! Accounts: sign-up, email verification, login with lockout, sessions, password reset,
//! profile changes and deletion.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::{Change, Core, Error, FieldErrors, Result, email, new_id};
use crate::{
    clock::from_ms,
    features::live::{AccountChange, Notice},
    jobs::Job,
    store::{
        Conflict, StoreError, Tx,
        accounts::{NewUser, UserRow},
    },
};

pub const MAX_FAILED_LOGINS: i32 = 5;
pub const LOCKOUT: Duration = Duration::minutes(15);
const VERIFY_TTL: Duration = Duration::hours(48);
const RESET_TTL: Duration = Duration::hours(1);

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

mod hasher;
mod input;
mod sessions;

pub use hasher::{Hasher, random_token, token_hash};
pub use input::{DisplayName, Email, Password, Role, SignupInput};
pub use sessions::{
    EndedBecause, Session, SessionState, User, authenticate, create_session, logout,
};

// --- use cases ----------------------------------------------------------------------------

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
            email::Purpose::AccountExists,
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
    link_by_mail(
        &mut tx,
        &mut change,
        email::Purpose::VerifyEmail,
        &id,
        None,
        now,
    )
    .await?;
    core.commit(tx, change).await
}

/// Mails a fresh confirmation link to the account's address (earlier links stop working).
pub async fn send_verification(core: &Core, user: &User) -> Result<()> {
    send_link(core, email::Purpose::VerifyEmail, &user.id, None).await
}

/// A single-use link by mail in a transaction of its own (see [`link_by_mail`]).
async fn send_link(
    core: &Core,
    purpose: email::Purpose,
    user_id: &str,
    to: Option<&str>,
) -> Result<()> {
    let now = core.clock.now();
    let mut change = Change::new(now.timestamp_millis());
    let mut tx = core.store.begin().await?;
    link_by_mail(&mut tx, &mut change, purpose, user_id, to, now).await?;
    core.commit(tx, change).await
}

/// A single-use link by mail, in the caller's transaction: the token's hash is stored
/// (earlier unused links of the same kind stop working) and the mail carrying it is queued. A
/// new address (`to`) is where an email change is confirmed.
async fn link_by_mail(
    tx: &mut Tx,
    change: &mut Change,
    purpose: email::Purpose,
    user_id: &str,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let ttl = match purpose {
        email::Purpose::ResetPassword => RESET_TTL,
        _ => VERIFY_TTL,
    };
    let token = random_token();
    // The token's kind is the purpose's name: verify_email, change_email, reset_password.
    tx.insert_token(
        &token_hash(&token),
        user_id,
        purpose.as_str(),
        to,
        now.timestamp_millis(),
        (now + ttl).timestamp_millis(),
    )
    .await?;
    let payload = email::Payload {
        token: Some(token.clone()),
        ..Default::default()
    };
    change.effects.mails.push(email::account_mail(
        purpose,
        user_id,
        to,
        payload,
        // Keyed by the token's hash, so each link is mailed once.
        token_hash(&token),
        now.timestamp_millis(),
    ));
    Ok(())
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
        email::Purpose::AccountLocked,
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

pub async fn request_password_reset(core: &Core, email: &str) -> Result<()> {
    let email = Email::parse(email).map_err(|m| FieldErrors::single("email", m))?;
    let Some(row) = core.store.user_by_email(email.as_str()).await? else {
        return Ok(());
    };
    if row.deleted_at.is_some() {
        return Ok(());
    }
    send_link(core, email::Purpose::ResetPassword, &row.id, None).await
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
    let mut change = Change::new(now);
    signed_out(&mut change, &t.user_id, None, None);
    core.commit(tx, change).await
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
    let mut change = Change::new(now);
    signed_out(&mut change, &session.user.id, None, Some(&session.id_hash));
    core.commit(tx, change).await
}

/// Tells every room that sessions of `user` ended: `only` that one, all `except` that one,
/// or all; the sockets opened with them close.
pub(crate) fn signed_out(
    change: &mut Change,
    user: &str,
    only: Option<&str>,
    except: Option<&str>,
) {
    if let Ok(user) = user.parse() {
        change.notify_everywhere(Notice::Account {
            user,
            change: AccountChange::SignedOut {
                only: only.map(str::to_string),
                except: except.map(str::to_string),
            },
        });
    }
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
    send_link(
        core,
        email::Purpose::ChangeEmail,
        &session.user.id,
        Some(email.as_str()),
    )
    .await
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
    if let Ok(user) = session.user.id.parse() {
        change.notify_everywhere(Notice::Account {
            user,
            change: AccountChange::Closed,
        });
    }
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
