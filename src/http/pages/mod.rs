//! Server-rendered pages. Each page is an askama template struct with a [`Layout`] field that
//! the shared `base.html` reads (branding, the signed-in user, the CSRF token, a notice).

mod accounts;
mod admin;
mod events;
mod home;
mod live;
mod media;
mod recap;
mod recordings;
mod registrations;

use askama::Template;
use axum::{
    Router,
    response::{Html, IntoResponse, Redirect, Response},
};

use super::{AppState, context::Ctx, error::HttpError};
use crate::features::{Error, FieldErrors};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(home::router())
        .merge(accounts::router())
        .merge(events::router())
        .merge(live::router())
        .merge(media::router())
        .merge(registrations::router())
        .merge(recap::router())
        .merge(recordings::router())
        .merge(admin::router())
}

pub struct NavUser {
    pub name: String,
    pub organizer: bool,
    pub admin: bool,
    pub verified: bool,
}

/// What every page's frame needs.
pub struct Layout {
    pub title: String,
    pub community: String,
    pub logo_url: Option<String>,
    pub footer_links: Vec<(String, String)>,
    pub user: Option<NavUser>,
    pub csrf: String,
    pub notice: Option<&'static str>,
    pub path: String,
}

impl Layout {
    pub fn new(state: &AppState, ctx: &Ctx, title: impl Into<String>) -> Layout {
        let b = &state.core.config.branding;
        Layout {
            title: title.into(),
            community: b.community_name.clone(),
            logo_url: b.logo_url.clone(),
            footer_links: b.footer_links.clone(),
            user: ctx.user().map(|u| NavUser {
                name: u.display_name.clone(),
                organizer: u.can_organize(),
                admin: u.is_admin(),
                verified: u.verified,
            }),
            csrf: ctx.csrf_token.clone(),
            notice: ctx.notice,
            path: ctx.path.clone(),
        }
    }
}

/// Notices shown after a redirect; keys in the URL map to fixed text, so nothing a visitor
/// types is ever reflected.
pub fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "check_email" => {
            "Check your inbox: we sent a link to that address. Open it to confirm, then log in."
        }
        "verified" => "Your email address is confirmed.",
        "presenter_added" => "Co-presenter added. They see this dashboard when they open the room.",
        "presenter_removed" => "Co-presenter removed.",
        "verification_sent" => "We sent you a new confirmation link.",
        "logged_in" => "You are logged in.",
        "logged_out" => "You are logged out.",
        "reset_sent" => "If an account uses that address, we sent it a link to reset the password.",
        "password_reset" => "Your password was changed. Log in with the new one.",
        "name_changed" => "Your display name was changed.",
        "email_change_sent" => {
            "We sent a confirmation link to the new address. The change happens when you click it."
        }
        "password_changed" => "Your password was changed. Your other sessions were logged out.",
        "account_deleted" => "Your account was deleted.",
        "account_disabled" => {
            "An administrator disabled your account, so you were logged out. Contact them to have it enabled again."
        }
        "account_banned" => "Your account is banned from this community, so you were logged out.",
        "event_created" => "Your event was created.",
        "event_updated" => "Your changes were saved.",
        "not_editable" => {
            "This event can no longer be edited: it has started, ended or been cancelled."
        }
        "event_cancelled" => "The event was cancelled.",
        "green_room_open" => "The green room is open. Presenters can rehearse; attendees wait.",
        "went_live" => {
            "You are live. Registrants are being told, and the event stops at its scheduled end."
        }
        "event_ended" => "The event has ended.",
        "recording_on" => "The event will be recorded when it goes live.",
        "recording_off" => "The event will not be recorded.",
        "viewer_cap_saved" => "The viewer cap is saved.",
        "recording_published" => {
            "The recording is published: everyone who may see the event can watch it."
        }
        "recording_unpublished" => "The recording is unpublished: only you can watch it.",
        "recording_deleted" => "The recording is deleted, with every file it had.",
        "recording_retry" => "The recording will be processed again in a moment.",
        "registered" => "You are registered. See you there!",
        "waitlisted" => {
            "The event is full, so you are on the waitlist. We will move you up when a seat frees."
        }
        "unregistered" => "You are no longer registered.",
        "user_updated" => "The account was updated.",
        "preferences_saved" => "Your email preferences were saved.",
        "mail_retried" => "The mail is queued again and goes out within seconds.",
        _ => return None,
    })
}

/// Renders a template, turning a render failure into a logged 500.
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => HttpError(Error::Internal(e.into())).into_response(),
    }
}

/// A CSV file to download as `filename` (an ASCII name the server made).
pub fn csv_download(body: String, filename: &str) -> Response {
    use axum::http::{HeaderValue, header};
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).expect("ascii name"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Post/redirect/get: after a successful form, go to `to` with a notice.
pub fn see_other(to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}notice={notice}")).into_response()
}

/// Splits a feature result into "show the form again with these messages" and everything
/// else, which goes to the error pages.
pub fn form_errors<T>(r: Result<T, Error>) -> Result<Result<T, FieldErrors>, HttpError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(Error::Invalid(f)) => Ok(Err(f)),
        Err(e) => Err(HttpError(e)),
    }
}

/// Text as HTML, every character escaped, with `http(s)://` addresses turned into links that
/// open in a new tab and pass no referrer or opener. Trailing punctuation stays text, so
/// "see https://example.org." links the address without the full stop.
pub fn linked(text: &str) -> String {
    fn escape(s: &str, out: &mut String) {
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["https://", "http://"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        escape(&rest[..start], &mut out);
        let candidate = &rest[start..];
        let len = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(candidate.len());
        let url = candidate[..len].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        if url::Url::parse(url).is_ok_and(|u| u.host_str().is_some()) {
            out.push_str("<a href=\"");
            escape(url, &mut out);
            out.push_str("\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">");
            escape(url, &mut out);
            out.push_str("</a>");
            rest = &candidate[url.len()..];
        } else {
            let skip = candidate.find("//").map_or(candidate.len(), |i| i + 2);
            escape(&candidate[..skip], &mut out);
            rest = &candidate[skip..];
        }
    }
    escape(rest, &mut out);
    out
}

/// A redirect target from a `next` parameter, kept on this site: a path starting with one
/// `/`, with no backslash, whitespace or control character (browsers drop tabs and line
/// breaks from URLs, so `/\t/evil.example` would become `//evil.example`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n
                    .chars()
                    .any(|c| c == '\\' || c.is_whitespace() || c.is_control()) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{linked, safe_next};

    #[test]
    fn descriptions_link_web_addresses_and_escape_everything_else() {
        assert_eq!(
            linked("Slides: https://example.org/a?b=1&c=2. <b>Bring</b> a \"laptop\""),
            "Slides: <a href=\"https://example.org/a?b=1&amp;c=2\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">https://example.org/a?b=1&amp;c=2</a>. &lt;b&gt;Bring&lt;/b&gt; a &quot;laptop&quot;"
        );
        assert_eq!(linked("javascript:alert(1)"), "javascript:alert(1)");
        assert_eq!(
            linked("x http://\"onmouseover=alert(1) y"),
            "x http://&quot;onmouseover=alert(1) y"
        );
        assert_eq!(
            linked("(see http://a.example)"),
            "(see <a href=\"http://a.example\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">http://a.example</a>)"
        );
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/events/1?x=2")), "/events/1?x=2");
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "/a\r\nSet-Cookie: x=1",
            "https://evil.example",
            "/ /evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
