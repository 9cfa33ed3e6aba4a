//! Static files, compiled into the binary so one file is the whole server. The theme
//! stylesheet carries the configured accent colour (inline styles are barred by the CSP).

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{AppState, error::not_found};

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "room.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/room.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/dom.js"),
    ),
    (
        "devices.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/devices.js"),
    ),
    (
        "media.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/media.js"),
    ),
    (
        "stage-view.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/stage-view.js"),
    ),
    (
        "device-panel.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/device-panel.js"),
    ),
    (
        "ivs.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/ivs.js"),
    ),
    (
        "replay.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/replay.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../static/favicon.svg"),
    ),
];

/// One of the static files by name, for pages served elsewhere (the published archive).
pub fn static_file(name: &str) -> Option<&'static str> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, body)| *body)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/theme.css", get(theme))
        .route(
            "/static/protocol.js",
            get(|| async {
                cached(
                    "text/javascript; charset=utf-8",
                    crate::features::live::protocol::javascript(),
                )
            }),
        )
        .route("/static/ivs-web-broadcast.js", get(ivs_sdk))
        .route("/static/hls.js", get(hls))
        .route("/static/{file}", get(file))
        .route(
            "/favicon.ico",
            get(|| file(Path("favicon.svg".to_string()))),
        )
}

fn cached(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, ct, body)) => cached(ct, (*body).to_string()),
        None => not_found().await,
    }
}

/// The IVS Web Broadcast SDK, as `npm ci` in static/vendor installed it (never committed) and
/// meetstage read it at start; only with the IVS media provider.
async fn ivs_sdk(State(s): State<AppState>) -> Response {
    let sdk = match &s.core.media {
        crate::media::MediaProvider::Ivs(ivs) => ivs.web_sdk.as_deref(),
        crate::media::MediaProvider::Embedded(_) => None,
    };
    match sdk {
        Some(js) => cached("text/javascript; charset=utf-8", js.to_string()),
        None => not_found().await,
    }
}

/// Where `npm ci --prefix static/vendor` puts hls.js (the light build: no subtitles or DRM).
const HLS_JS: &str = "static/vendor/node_modules/hls.js/dist/hls.light.min.js";

static HLS: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Reads hls.js once, at start, from `MEETSTAGE_HLS_JS` (the Docker image sets it) or where
/// npm puts it; without it the replay plays the MP4.
pub async fn load_hls_js() {
    if HLS.get().is_some() {
        return;
    }
    let path = std::env::var_os("MEETSTAGE_HLS_JS").unwrap_or_else(|| HLS_JS.into());
    let js = tokio::fs::read_to_string(&path).await.ok();
    if js.is_none() {
        tracing::info!(path = %std::path::Path::new(&path).display(), "hls.js not installed: replays play the MP4");
    }
    let _ = HLS.set(js);
}

/// hls.js as read at start; None when it was not installed.
pub fn hls_js() -> Option<&'static str> {
    HLS.get().and_then(|js| js.as_deref())
}

async fn hls() -> Response {
    match hls_js() {
        Some(js) => cached("text/javascript; charset=utf-8", js.to_string()),
        None => not_found().await,
    }
}

async fn theme(State(s): State<AppState>) -> Response {
    cached(
        "text/css; charset=utf-8",
        theme_css(&s.core.config.branding.accent_color),
    )
}

/// The accent as three colours that each keep WCAG AA contrast (4.5:1) whatever colour is
/// configured: `--accent` fills buttons under white text, `--accent-ink` colours links and
/// outlined buttons on the light or the dark background.
pub fn theme_css(accent: &str) -> String {
    // The colour was validated as #rrggbb when the configuration was read.
    let rgb = parse_hex(accent).unwrap_or([0x2f, 0x6f, 0xde]);
    let fill = until_contrast(rgb, [0xff, 0xff, 0xff], [0, 0, 0]);
    // The darker of the two light backgrounds and the lighter of the two dark ones.
    let ink_light = until_contrast(rgb, [0xf6, 0xf7, 0xf9], [0, 0, 0]);
    let ink_dark = until_contrast(rgb, [0x1b, 0x20, 0x29], [0xff, 0xff, 0xff]);
    format!(
        ":root {{ --accent: {}; --accent-ink: {}; }}\n\
         @media (prefers-color-scheme: dark) {{ :root {{ --accent-ink: {}; }} }}\n",
        hex(fill),
        hex(ink_light),
        hex(ink_dark)
    )
}

fn parse_hex(s: &str) -> Option<[u8; 3]> {
    let n = u32::from_str_radix(s.strip_prefix('#')?, 16).ok()?;
    Some([(n >> 16) as u8, (n >> 8) as u8, n as u8])
}

fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// WCAG relative luminance.
fn luminance(rgb: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2])
}

fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// Mixes `colour` towards `toward` (black or white) in small steps until it stands out from
/// `against` by at least 4.6:1 (a margin over AA's 4.5 for rounding in browsers).
fn until_contrast(colour: [u8; 3], against: [u8; 3], toward: [u8; 3]) -> [u8; 3] {
    let mix = |t: f64| {
        let m = |c: u8, d: u8| (f64::from(c) + (f64::from(d) - f64::from(c)) * t).round() as u8;
        [
            m(colour[0], toward[0]),
            m(colour[1], toward[1]),
            m(colour[2], toward[2]),
        ]
    };
    (0..=100)
        .map(|step| mix(f64::from(step) / 100.0))
        .find(|c| contrast(*c, against) >= 4.6)
        .unwrap_or(toward)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accent_keeps_aa_contrast() {
        for accent in [
            "#2f6fde", "#ffff00", "#000000", "#ffffff", "#7f7f7f", "#d93025",
        ] {
            let css = theme_css(accent);
            let colours: Vec<[u8; 3]> = css
                .split('#')
                .skip(1)
                .map(|h| parse_hex(&format!("#{}", &h[..6])).unwrap())
                .collect();
            let [fill, ink_light, ink_dark] = colours[..] else {
                panic!("{css}")
            };
            assert!(contrast(fill, [255, 255, 255]) >= 4.5, "{accent}: {css}");
            assert!(contrast(ink_light, [0xf6, 0xf7, 0xf9]) >= 4.5, "{accent}");
            assert!(contrast(ink_light, [0xff, 0xff, 0xff]) >= 4.5, "{accent}");
            assert!(contrast(ink_dark, [0x1b, 0x20, 0x29]) >= 4.5, "{accent}");
            assert!(contrast(ink_dark, [0x12, 0x15, 0x1b]) >= 4.5, "{accent}");
        }
        // A colour that already has enough contrast is kept as configured.
        assert!(theme_css("#1d4ed8").starts_with(":root { --accent: #1d4ed8;"));
    }
}
