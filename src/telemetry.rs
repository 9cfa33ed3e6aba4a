//! Logs and metrics. Logs are JSON lines (or pretty for a terminal) with the request id on
//! every line of a request; levels come from RUST_LOG (default `info`).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// Installs the global subscriber; call once, from `main`.
pub fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(fmt::layer()).try_init(),
    };
    // Tests start many apps in one process; only the first may install a subscriber.
    let _ = result;
}

static METRICS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide Prometheus recorder (the `metrics` facade is global by design).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    METRICS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .clone()
}

/// One number the CloudWatch dashboard and alarms read, taken from the Prometheus metrics.
struct EmfMetric {
    name: &'static str,
    prometheus: &'static str,
    /// Only samples with this label value (`5xx`: any status from 500 to 599).
    label: Option<(&'static str, &'static str)>,
    /// Counters are reported as the change since the previous report.
    counter: bool,
}

const fn emf(
    name: &'static str,
    prometheus: &'static str,
    label: Option<(&'static str, &'static str)>,
    counter: bool,
) -> EmfMetric {
    EmfMetric {
        name,
        prometheus,
        label,
        counter,
    }
}

const EMF_METRICS: &[EmfMetric] = &[
    emf("Attendees", "meetstage_room_connections", None, false),
    emf(
        "QuestionsAsked",
        "meetstage_room_actions_total",
        Some(("action", "ask")),
        true,
    ),
    emf(
        "ChatMessages",
        "meetstage_room_actions_total",
        Some(("action", "chat")),
        true,
    ),
    emf(
        "HandsRaised",
        "meetstage_room_actions_total",
        Some(("action", "raise_hand")),
        true,
    ),
    emf("JobFailures", "meetstage_jobs_failed_total", None, true),
    emf("DeadMail", "meetstage_mail_dead_total", None, true),
    emf("IvsStagesOpen", "meetstage_ivs_stages_open", None, false),
    emf(
        "IvsCompositionFailures",
        "meetstage_ivs_compositions_failed_total",
        None,
        true,
    ),
    emf(
        "Http5xx",
        "http_requests_total",
        Some(("status", "5xx")),
        true,
    ),
];

/// Turns Prometheus text into one CloudWatch embedded-metric-format line (namespace
/// `meetstage`), so CloudWatch has engagement and job metrics with no agent: the awslogs
/// driver ships the line and CloudWatch extracts the numbers. `last` keeps the counters'
/// totals between reports.
pub fn emf_line(
    prometheus: &str,
    last: &mut std::collections::HashMap<String, f64>,
    now_ms: i64,
) -> String {
    let mut values = serde_json::Map::new();
    let mut definitions = Vec::new();
    for m in EMF_METRICS {
        let total: f64 = prometheus
            .lines()
            .filter_map(|line| sample(line, m.prometheus, m.label))
            .fold(0.0, |a, b| a + b);
        let value = if m.counter {
            let before = last.insert(m.name.to_string(), total).unwrap_or(0.0);
            (total - before).max(0.0)
        } else {
            total
        };
        values.insert(m.name.to_string(), serde_json::json!(value));
        definitions.push(serde_json::json!({ "Name": m.name, "Unit": "Count" }));
    }
    let mut line = serde_json::Map::new();
    line.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "meetstage",
                "Dimensions": [[]],
                "Metrics": definitions,
            }],
        }),
    );
    line.extend(values);
    serde_json::Value::Object(line).to_string()
}

/// The value of one Prometheus text sample if it is `metric` with the label filter.
fn sample(line: &str, metric: &str, filter: Option<(&str, &str)>) -> Option<f64> {
    let rest = line.strip_prefix(metric)?;
    let (labels, value) = match rest.strip_prefix('{') {
        Some(r) => r.split_once("} ")?,
        None => ("", rest.strip_prefix(' ')?),
    };
    if let Some((key, want)) = filter {
        let matched = labels.split(',').any(|pair| {
            pair.split_once('=').is_some_and(|(k, v)| {
                let v = v.trim_matches('"');
                k == key
                    && match want.strip_suffix("xx") {
                        Some(class) => v.len() == 3 && v.starts_with(class),
                        None => v == want,
                    }
            })
        });
        if !matched {
            return None;
        }
    }
    value.trim().parse().ok()
}

/// Writes an EMF line to standard output every minute (`MEETSTAGE_METRICS_EMF`).
pub async fn report_emf(clock: crate::clock::Clock) {
    let Some(handle) = metrics_handle() else {
        return;
    };
    let mut last = std::collections::HashMap::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let line = emf_line(&handle.render(), &mut last, clock.now_ms());
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = "\
# TYPE meetstage_room_connections gauge
meetstage_room_connections{event=\"a\"} 40
meetstage_room_connections{event=\"b\"} 2
meetstage_room_actions_total{action=\"ask\"} 3
meetstage_room_actions_total{action=\"chat\"} 10
meetstage_room_actions_total{action=\"chat_delete\"} 1
meetstage_room_actions_total{action=\"raise_hand\"} 2
meetstage_jobs_failed_total{kind=\"stage\"} 1
http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 900
http_requests_total{method=\"GET\",route=\"/x\",status=\"503\"} 4
http_requests_total{method=\"POST\",route=\"/y\",status=\"500\"} 1
";

    #[test]
    fn emf_reports_gauges_and_the_change_in_counters() {
        let mut last = std::collections::HashMap::new();
        let first: serde_json::Value =
            serde_json::from_str(&emf_line(SCRAPE, &mut last, 1_700_000_000_000)).unwrap();
        assert_eq!(first["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let cw = &first["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "meetstage");
        assert_eq!(cw["Dimensions"], serde_json::json!([[]]));
        assert_eq!(cw["Metrics"].as_array().unwrap().len(), EMF_METRICS.len());
        assert_eq!(first["Attendees"], 42.0);
        assert_eq!(first["QuestionsAsked"], 3.0);
        assert_eq!(first["ChatMessages"], 10.0, "chat_delete is not a message");
        assert_eq!(first["HandsRaised"], 2.0);
        assert_eq!(first["JobFailures"], 1.0);
        assert_eq!(first["DeadMail"], 0.0);
        assert_eq!(first["Http5xx"], 5.0);

        // A minute later: two more questions, fewer people; counters report the change.
        let later = SCRAPE
            .replace("{action=\"ask\"} 3", "{action=\"ask\"} 5")
            .replace("{event=\"a\"} 40", "{event=\"a\"} 30");
        let second: serde_json::Value =
            serde_json::from_str(&emf_line(&later, &mut last, 1_700_000_060_000)).unwrap();
        assert_eq!(second["Attendees"], 32.0);
        assert_eq!(second["QuestionsAsked"], 2.0);
        assert_eq!(second["ChatMessages"], 0.0);
        assert_eq!(second["Http5xx"], 0.0);
    }
}
