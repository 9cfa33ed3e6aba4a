//! Sign-up, login, logout, email confirmation, password reset and the account page.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Query, State},
    http::header,
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;

use super::{Layout, form_errors, render, safe_next, see_other};
use crate::{
    features::{
        Error, FieldErrors,
        accounts::{self, User},
        email,
    },
    http::{
        AppState,
        context::{Ctx, login_cookie, logout_cookie},
        error::HttpError,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_page).post(signup))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/account/verify", get(verify_page).post(verify))
        .route("/account/verify/resend", post(resend_verification))
        .route("/account/forgot", get(forgot_page).post(forgot))
        .route("/account/reset", get(reset_page).post(reset))
        .route("/account", get(account_page))
        .route("/account/name", post(change_name))
        .route("/account/email", post(change_email))
        .route("/account/password", post(change_password))
        .route("/account/delete", post(delete_account))
        .route(
            "/account/notifications",
            get(notifications_page).post(save_notifications),
        )
        .route("/unsubscribe", get(unsubscribe_page).post(unsubscribe))
}

type PageResult = Result<Response, HttpError>;

// --- sign-up ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "accounts/signup.html")]
struct SignupPage {
    layout: Layout,
    email: String,
    display_name: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

async fn signup_page(State(s): State<AppState>, ctx: Ctx) -> Response {
    render(&SignupPage {
        layout: Layout::new(&s, &ctx, "Sign up"),
        email: String::new(),
        display_name: String::new(),
        errors: FieldErrors::default(),
    })
}

async fn signup(State(s): State<AppState>, ctx: Ctx, Form(f): Form<SignupForm>) -> PageResult {
    let input = accounts::SignupInput {
        email: &f.email,
        display_name: &f.display_name,
        password: &f.password,
    };
    match form_errors(accounts::signup(&s.core, input).await)? {
        // The same answer whether the address was new or already had an account.
        Ok(()) => Ok(see_other("/login", "check_email")),
        Err(errors) => Ok(render(&SignupPage {
            layout: Layout::new(&s, &ctx, "Sign up"),
            email: f.email,
            display_name: f.display_name,
            errors,
        })),
    }
}

// --- login and logout ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "accounts/login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    next: String,
    problem: Option<String>,
    errors: FieldErrors,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login_page(State(s): State<AppState>, ctx: Ctx, Query(q): Query<NextQuery>) -> Response {
    render(&LoginPage {
        layout: Layout::new(&s, &ctx, "Log in"),
        email: String::new(),
        next: safe_next(q.next.as_deref()),
        problem: None,
        errors: FieldErrors::default(),
    })
}

async fn login(State(s): State<AppState>, ctx: Ctx, Form(f): Form<LoginForm>) -> PageResult {
    let next = safe_next(f.next.as_deref());
    // Refusals re-render the form (200): browsers log other statuses as console errors.
    let (problem, errors) = match accounts::login(&s.core, &f.email, &f.password, ctx.ip).await {
        Ok((_, token)) => {
            let mut res = see_other(&next, "logged_in");
            res.headers_mut()
                .insert(header::SET_COOKIE, login_cookie(&s.core.config, token));
            return Ok(res);
        }
        Err(Error::Invalid(errors)) => (None, errors),
        Err(e @ Error::Locked { .. }) => (Some(e.to_string()), FieldErrors::default()),
        Err(Error::Forbidden(m)) => (Some(m), FieldErrors::default()),
        Err(e) => return Err(HttpError(e)),
    };
    Ok(render(&LoginPage {
        layout: Layout::new(&s, &ctx, "Log in"),
        email: f.email,
        next,
        problem,
        errors,
    }))
}

async fn logout(State(s): State<AppState>, ctx: Ctx) -> PageResult {
    if let Some(session) = &ctx.session {
        accounts::logout(&s.core, session).await?;
    }
    let mut res = see_other("/", "logged_out");
    res.headers_mut()
        .insert(header::SET_COOKIE, logout_cookie(&s.core.config));
    Ok(res)
}

// --- email confirmation -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "accounts/verify.html")]
struct VerifyPage {
    layout: Layout,
    token: String,
    problem: Option<String>,
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

/// The link in the mail only shows a button: mail scanners that open links must not use up
/// the single-use token.
async fn verify_page(State(s): State<AppState>, ctx: Ctx, Query(q): Query<TokenForm>) -> Response {
    render(&VerifyPage {
        layout: Layout::new(&s, &ctx, "Confirm your email"),
        token: q.token,
        problem: None,
    })
}

async fn verify(State(s): State<AppState>, ctx: Ctx, Form(f): Form<TokenForm>) -> PageResult {
    // A used or expired link is a page that says so (200), like any form re-render.
    match accounts::verify_email(&s.core, &f.token).await {
        Ok(()) => {}
        Err(Error::Conflict(problem)) => {
            return Ok(render(&VerifyPage {
                layout: Layout::new(&s, &ctx, "Confirm your email"),
                token: String::new(),
                problem: Some(problem),
            }));
        }
        Err(e) => return Err(HttpError(e)),
    }
    Ok(if ctx.session.is_some() {
        see_other("/account", "verified")
    } else {
        see_other("/login", "verified")
    })
}

async fn resend_verification(State(s): State<AppState>, ctx: Ctx) -> PageResult {
    let session = ctx.require()?;
    if !session.user.verified {
        accounts::send_verification(&s.core, &session.user).await?;
    }
    Ok(see_other("/account", "verification_sent"))
}

// --- password reset -----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "accounts/forgot.html")]
struct ForgotPage {
    layout: Layout,
    email: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
}

async fn forgot_page(State(s): State<AppState>, ctx: Ctx) -> Response {
    render(&ForgotPage {
        layout: Layout::new(&s, &ctx, "Reset your password"),
        email: String::new(),
        errors: FieldErrors::default(),
    })
}

async fn forgot(State(s): State<AppState>, ctx: Ctx, Form(f): Form<EmailForm>) -> PageResult {
    match form_errors(accounts::request_password_reset(&s.core, &f.email).await)? {
        Ok(()) => Ok(see_other("/login", "reset_sent")),
        Err(errors) => Ok(render(&ForgotPage {
            layout: Layout::new(&s, &ctx, "Reset your password"),
            email: f.email,
            errors,
        })),
    }
}

#[derive(Template)]
#[template(path = "accounts/reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    errors: FieldErrors,
    problem: Option<String>,
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn reset_page(State(s): State<AppState>, ctx: Ctx, Query(q): Query<TokenForm>) -> Response {
    render(&ResetPage {
        layout: Layout::new(&s, &ctx, "Choose a new password"),
        token: q.token,
        errors: FieldErrors::default(),
        problem: None,
    })
}

async fn reset(State(s): State<AppState>, ctx: Ctx, Form(f): Form<ResetForm>) -> PageResult {
    let result = accounts::reset_password(&s.core, &f.token, &f.password).await;
    // A used or expired link is said on the page (200), like any form re-render.
    if let Err(Error::Conflict(problem)) = result {
        return Ok(render(&ResetPage {
            layout: Layout::new(&s, &ctx, "Choose a new password"),
            token: f.token,
            errors: FieldErrors::default(),
            problem: Some(problem),
        }));
    }
    match form_errors(result)? {
        Ok(()) => {
            let mut res = see_other("/login", "password_reset");
            res.headers_mut()
                .insert(header::SET_COOKIE, logout_cookie(&s.core.config));
            Ok(res)
        }
        Err(errors) => Ok(render(&ResetPage {
            layout: Layout::new(&s, &ctx, "Choose a new password"),
            token: f.token,
            errors,
            problem: None,
        })),
    }
}

// --- the account page ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "accounts/account.html")]
struct AccountPage {
    layout: Layout,
    user: User,
    display_name: String,
    new_email: String,
    /// Which form the errors belong to.
    section: &'static str,
    errors: FieldErrors,
}

fn account_page_with(
    s: &AppState,
    ctx: &Ctx,
    user: &User,
    section: &'static str,
    errors: FieldErrors,
    display_name: Option<String>,
    new_email: Option<String>,
) -> Response {
    render(&AccountPage {
        layout: Layout::new(s, ctx, "Your account"),
        user: user.clone(),
        display_name: display_name.unwrap_or_else(|| user.display_name.clone()),
        new_email: new_email.unwrap_or_default(),
        section,
        errors,
    })
}

async fn account_page(State(s): State<AppState>, ctx: Ctx) -> PageResult {
    let session = ctx.require()?;
    Ok(account_page_with(
        &s,
        &ctx,
        &session.user,
        "",
        FieldErrors::default(),
        None,
        None,
    ))
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    display_name: String,
}

async fn change_name(State(s): State<AppState>, ctx: Ctx, Form(f): Form<NameForm>) -> PageResult {
    let session = ctx.require()?;
    match form_errors(accounts::change_display_name(&s.core, session, &f.display_name).await)? {
        Ok(()) => Ok(see_other("/account", "name_changed")),
        Err(errors) => Ok(account_page_with(
            &s,
            &ctx,
            &session.user,
            "name",
            errors,
            Some(f.display_name),
            None,
        )),
    }
}

#[derive(Deserialize)]
struct EmailChangeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    current_password: String,
}

async fn change_email(
    State(s): State<AppState>,
    ctx: Ctx,
    Form(f): Form<EmailChangeForm>,
) -> PageResult {
    let session = ctx.require()?;
    match form_errors(
        accounts::change_email(&s.core, session, &f.current_password, &f.email).await,
    )? {
        Ok(()) => Ok(see_other("/account", "email_change_sent")),
        Err(errors) => Ok(account_page_with(
            &s,
            &ctx,
            &session.user,
            "email",
            errors,
            None,
            Some(f.email),
        )),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

async fn change_password(
    State(s): State<AppState>,
    ctx: Ctx,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let session = ctx.require()?;
    match form_errors(
        accounts::change_password(&s.core, session, &f.current_password, &f.new_password).await,
    )? {
        Ok(()) => Ok(see_other("/account", "password_changed")),
        Err(errors) => Ok(account_page_with(
            &s,
            &ctx,
            &session.user,
            "password",
            errors,
            None,
            None,
        )),
    }
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    current_password: String,
}

async fn delete_account(
    State(s): State<AppState>,
    ctx: Ctx,
    Form(f): Form<DeleteForm>,
) -> PageResult {
    let session = ctx.require()?;
    match form_errors(accounts::delete_account(&s.core, session, &f.current_password).await)? {
        Ok(()) => {
            let mut res = see_other("/", "account_deleted");
            res.headers_mut()
                .insert(header::SET_COOKIE, logout_cookie(&s.core.config));
            Ok(res)
        }
        Err(errors) => Ok(account_page_with(
            &s,
            &ctx,
            &session.user,
            "delete",
            errors,
            None,
            None,
        )),
    }
}

// --- notification preferences and one-click unsubscribe --------------------------------------

#[derive(Template)]
#[template(path = "accounts/notifications.html")]
struct NotificationsPage {
    layout: Layout,
    reminders: bool,
    event_news: bool,
}

async fn notifications_page(State(s): State<AppState>, ctx: Ctx) -> PageResult {
    let session = ctx.require()?;
    let (reminders, event_news) = email::preferences(&s.core, &session.user.id).await?;
    Ok(render(&NotificationsPage {
        layout: Layout::new(&s, &ctx, "Email notifications"),
        reminders,
        event_news,
    }))
}

#[derive(Deserialize)]
struct NotificationsForm {
    reminders: Option<String>,
    event_news: Option<String>,
}

async fn save_notifications(
    State(s): State<AppState>,
    ctx: Ctx,
    Form(f): Form<NotificationsForm>,
) -> PageResult {
    let session = ctx.require()?;
    email::set_preferences(
        &s.core,
        &session.user.id,
        f.reminders.is_some(),
        f.event_news.is_some(),
    )
    .await?;
    Ok(see_other("/account/notifications", "preferences_saved"))
}

#[derive(Template)]
#[template(path = "accounts/unsubscribe.html")]
struct UnsubscribePage {
    layout: Layout,
    done: bool,
    what: &'static str,
    action: String,
}

#[derive(Deserialize)]
struct UnsubscribeQuery {
    #[serde(default)]
    u: String,
    #[serde(default)]
    c: String,
    #[serde(default)]
    s: String,
}

/// The link in the mail asks first: mail scanners open links, and must not unsubscribe.
async fn unsubscribe_page(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<UnsubscribeQuery>,
) -> PageResult {
    let category = email::Category::parse(&q.c).ok_or(HttpError(Error::NotFound))?;
    let action = format!(
        "/unsubscribe?u={}&c={}&s={}",
        enc(&q.u),
        enc(&q.c),
        enc(&q.s)
    );
    Ok(render(&UnsubscribePage {
        layout: Layout::new(&s, &ctx, "Unsubscribe"),
        done: false,
        what: category.label(),
        action,
    }))
}

/// The button on that page, or a mail client's one-click POST (RFC 8058); the signature in
/// the URL is the authority, so no session or CSRF token is needed.
async fn unsubscribe(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<UnsubscribeQuery>,
) -> PageResult {
    let category = email::unsubscribe(&s.core, &q.u, &q.c, &q.s)
        .await?
        .ok_or_else(|| HttpError(crate::features::forbidden("This unsubscribe link is not valid. Change your preferences from your account page.")))?;
    Ok(render(&UnsubscribePage {
        layout: Layout::new(&s, &ctx, "Unsubscribed"),
        done: true,
        what: category.label(),
        action: String::new(),
    }))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
