//! Prometheus metrics, served as text at `GET /metrics`.
//!
//! One [`Metrics`] is made at start-up and shared; every part records into its own fields.
//! Gauges that mirror Redis (outbox depth, sync lag, dead letters) are refreshed by the sync
//! worker as it runs.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Every metric wxtag exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by route and status.
    pub requests: IntCounterVec,
    /// HTTP request latency by route, in seconds.
    pub request_seconds: HistogramVec,
    /// Pushes handled, by message kind and outcome (applied, replied, duplicate).
    pub events: IntCounterVec,
    /// Time to handle one push, in seconds.
    pub event_seconds: Histogram,
    /// Redis errors met while serving.
    pub redis_errors: IntCounter,
    /// Outbox entries not yet acknowledged by the sync worker.
    pub outbox_depth: IntGauge,
    /// Age of the oldest unacknowledged outbox entry, in seconds.
    pub sync_lag_seconds: IntGauge,
    /// WeChat API calls by endpoint and errcode (`0` = ok; `http`, `timeout`, `transport`).
    pub api_calls: IntCounterVec,
    /// Entries in the dead-letter list.
    pub dead_letters: IntGauge,
    /// Lead hashes not in the shape wxtag writes, met by reads (each left out of lists).
    pub corrupt_leads: IntCounter,
    /// Times `serve` restarted a sync worker that had stopped or panicked.
    pub sync_worker_restarts: IntCounter,
    /// Automation runs by automation and outcome (started, done, stopped).
    pub automation_runs: IntCounterVec,
    /// Automation steps by kind and outcome (done, skipped, delayed, failed).
    pub automation_steps: IntCounterVec,
    /// Messages to one lead by kind (`custom`, `template`) and result (`sent`, `skipped_<reason>`,
    /// `failed_<errcode>`, `unknown`).
    pub sends: IntCounterVec,
    /// Leads whose menu tag the sync took off and put on again so it is the tag applied last.
    pub menu_reapplied: IntCounter,
}

/// Latency buckets from 0.5 ms to 5 s: WeChat's deadline.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

impl Metrics {
    /// A fresh set of metrics in its own registry.
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("wxtag".to_owned()), None).expect("a fixed, valid prefix");
        let metrics = Self {
            registry,
            requests: IntCounterVec::new(
                Opts::new("http_requests_total", "HTTP requests by route and status"),
                &["route", "status"],
            )
            .expect("valid metric"),
            request_seconds: HistogramVec::new(
                HistogramOpts::new("http_request_seconds", "HTTP request latency")
                    .buckets(BUCKETS.to_vec()),
                &["route"],
            )
            .expect("valid metric"),
            events: IntCounterVec::new(
                Opts::new("events_total", "pushes handled, by kind and outcome"),
                &["kind", "outcome"],
            )
            .expect("valid metric"),
            event_seconds: Histogram::with_opts(
                HistogramOpts::new("event_seconds", "time to handle one push")
                    .buckets(BUCKETS.to_vec()),
            )
            .expect("valid metric"),
            redis_errors: IntCounter::new("redis_errors_total", "redis errors while serving")
                .expect("valid metric"),
            outbox_depth: IntGauge::new("outbox_depth", "outbox entries not yet synced")
                .expect("valid metric"),
            sync_lag_seconds: IntGauge::new(
                "sync_lag_seconds",
                "age of the oldest unsynced outbox entry",
            )
            .expect("valid metric"),
            api_calls: IntCounterVec::new(
                Opts::new(
                    "wechat_api_calls_total",
                    "WeChat API calls by endpoint and errcode",
                ),
                &["endpoint", "errcode"],
            )
            .expect("valid metric"),
            dead_letters: IntGauge::new("dead_letters", "sync changes that can never succeed")
                .expect("valid metric"),
            corrupt_leads: IntCounter::new(
                "corrupt_leads_total",
                "lead hashes not in the shape wxtag writes, met by reads",
            )
            .expect("valid metric"),
            sync_worker_restarts: IntCounter::new(
                "sync_worker_restarts_total",
                "sync workers restarted after they stopped or panicked",
            )
            .expect("valid metric"),
            automation_runs: IntCounterVec::new(
                Opts::new(
                    "automation_runs_total",
                    "automation runs by automation and outcome",
                ),
                &["automation", "outcome"],
            )
            .expect("valid metric"),
            automation_steps: IntCounterVec::new(
                Opts::new(
                    "automation_steps_total",
                    "automation steps by kind and outcome",
                ),
                &["kind", "outcome"],
            )
            .expect("valid metric"),
            sends: IntCounterVec::new(
                Opts::new("sends_total", "messages to one lead by kind and result"),
                &["kind", "result"],
            )
            .expect("valid metric"),
            menu_reapplied: IntCounter::new(
                "menu_reapplied_total",
                "leads whose menu tag was taken off and put on again so it is applied last",
            )
            .expect("valid metric"),
        };
        for collector in metrics.collectors() {
            // Each metric has a distinct name, so registering cannot collide.
            metrics
                .registry
                .register(collector)
                .expect("distinct metric names");
        }
        metrics
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.requests.clone()),
            Box::new(self.request_seconds.clone()),
            Box::new(self.events.clone()),
            Box::new(self.event_seconds.clone()),
            Box::new(self.redis_errors.clone()),
            Box::new(self.outbox_depth.clone()),
            Box::new(self.sync_lag_seconds.clone()),
            Box::new(self.api_calls.clone()),
            Box::new(self.dead_letters.clone()),
            Box::new(self.corrupt_leads.clone()),
            Box::new(self.sync_worker_restarts.clone()),
            Box::new(self.automation_runs.clone()),
            Box::new(self.automation_steps.clone()),
            Box::new(self.sends.clone()),
            Box::new(self.menu_reapplied.clone()),
        ]
    }

    /// Everything in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_show_in_the_text_format() {
        let metrics = Metrics::new();
        metrics
            .events
            .with_label_values(&["follow", "applied"])
            .inc();
        metrics
            .api_calls
            .with_label_values(&["tags/members/batchtagging", "0"])
            .inc_by(3);
        metrics.outbox_depth.set(7);
        let text = metrics.render();
        assert!(
            text.contains("wxtag_events_total{kind=\"follow\",outcome=\"applied\"} 1"),
            "{text}"
        );
        assert!(text.contains(
            "wxtag_wechat_api_calls_total{endpoint=\"tags/members/batchtagging\",errcode=\"0\"} 3"
        ));
        assert!(text.contains("wxtag_outbox_depth 7"));
    }
}
