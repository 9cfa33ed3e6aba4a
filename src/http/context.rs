//! Per-request context: who is asking (from the server-side session, never from the
//! payload), their CSRF token and their address. Resolved once by [`resolve`] and read by
//! handlers through the [`Ctx`] extractor.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use cookie::{Cookie, SameSite};

use super::{AppState, error::HttpError, security::csrf_token};
use crate::{
    config::Config,
    features::{
        Error,
        accounts::{self, EndedBecause, Session, SessionState, random_token},
    },
};

#[derive(Clone, Debug)]
pub struct Ctx {
    pub session: Option<Session>,
    pub csrf_token: String,
    /// What the CSRF token signs: the session's hash, or the pre-session cookie.
    pub csrf_binding: String,
    pub ip: IpAddr,
    pub path: String,
    /// A notice named in the query string (`?notice=registered`), already mapped to text.
    pub notice: Option<&'static str>,
    /// Set when this request's session cookie belonged to an account disabled, banned or
    /// deleted since: the login page it is sent to says so.
    pub ended: Option<EndedBecause>,
}

impl Ctx {
    pub fn user(&self) -> Option<&accounts::User> {
        self.session.as_ref().map(|s| &s.user)
    }

    /// The session, or the error that sends the visitor to the login page.
    pub fn require(&self) -> Result<&Session, HttpError> {
        self.session
            .as_ref()
            .ok_or(HttpError(Error::Unauthenticated))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Ctx>().cloned().ok_or_else(|| {
            HttpError(Error::Internal(anyhow::anyhow!(
                "context middleware missing"
            )))
        })
    }
}

/// A request that must come from a logged-in person. As an extractor it runs before any
/// body is read, so an anonymous request is told to log in rather than that its body is bad.
pub struct Authed(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        ctx.session
            .map(Authed)
            .ok_or(HttpError(Error::Unauthenticated))
    }
}

pub fn session_cookie_name(config: &Config) -> &'static str {
    if config.is_https() {
        "__Host-meetstage_session"
    } else {
        "meetstage_session"
    }
}

fn csrf_cookie_name(config: &Config) -> &'static str {
    if config.is_https() {
        "__Host-meetstage_csrf"
    } else {
        "meetstage_csrf"
    }
}

fn build_cookie(
    config: &Config,
    name: &'static str,
    value: String,
    max_age: Option<cookie::time::Duration>,
) -> HeaderValue {
    let mut c = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(config.is_https())
        .same_site(SameSite::Lax);
    if let Some(age) = max_age {
        c = c.max_age(age);
    }
    HeaderValue::from_str(&c.build().to_string()).expect("cookie is a valid header")
}

/// The Set-Cookie header that logs a browser in.
pub fn login_cookie(config: &Config, token: String) -> HeaderValue {
    let age = cookie::time::Duration::hours(i64::from(config.session_idle_hours));
    build_cookie(config, session_cookie_name(config), token, Some(age))
}

pub fn logout_cookie(config: &Config) -> HeaderValue {
    build_cookie(
        config,
        session_cookie_name(config),
        String::new(),
        Some(cookie::time::Duration::ZERO),
    )
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn client_ip(req: &Request, trust_proxy: bool) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
    if !trust_proxy {
        return peer;
    }
    // The last entry is the one our proxy added; earlier ones are the client's to forge.
    req.headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse().ok())
        .unwrap_or(peer)
}

/// An id from the URL path (`/events/{id}`), parsed into its type: anything that is not an
/// id of that kind is simply not found, before a handler or a query sees it.
pub struct IdPath<T>(pub T);

impl<S: Send + Sync, T: std::str::FromStr> axum::extract::FromRequestParts<S> for IdPath<T> {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, HttpError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| HttpError(crate::features::Error::NotFound))?;
        raw.parse()
            .map(IdPath)
            .map_err(|_| HttpError(crate::features::Error::NotFound))
    }
}

pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let config = &state.core.config;
    let mut set_cookies = Vec::new();
    let mut session = None;
    let mut ended = None;
    if let Some(token) = cookie_value(req.headers(), session_cookie_name(config)) {
        match accounts::authenticate(&state.core, token).await {
            Ok(SessionState::Active(s)) => session = Some(s),
            Ok(SessionState::Ended(why)) => {
                ended = Some(why);
                set_cookies.push(logout_cookie(config));
            }
            Ok(SessionState::None) => set_cookies.push(logout_cookie(config)),
            Err(e) => return HttpError(e).into_response(),
        }
    }
    let binding = match (
        &session,
        cookie_value(req.headers(), csrf_cookie_name(config)),
    ) {
        (Some(s), _) => s.id_hash.clone(),
        (None, Some(pre)) => pre.to_string(),
        (None, None) => {
            let pre = random_token();
            set_cookies.push(build_cookie(
                config,
                csrf_cookie_name(config),
                pre.clone(),
                None,
            ));
            pre
        }
    };
    let ctx = Ctx {
        session,
        csrf_token: csrf_token(&state.core, &binding),
        csrf_binding: binding.clone(),
        ip: client_ip(&req, config.trust_proxy),
        path: req.uri().path().to_string(),
        // A session that just ended says why on whatever page comes next.
        notice: ended
            .and_then(|why| super::pages::notice_text(why.notice()))
            .or_else(|| {
                req.uri()
                    .query()
                    .and_then(|q| {
                        url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "notice")
                    })
                    .and_then(|(_, v)| super::pages::notice_text(&v))
            }),
        ended,
    };
    req.extensions_mut().insert(ctx);
    let mut res = next.run(req).await;
    for c in set_cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}
