//! Format: the two text formats `/metrics` speaks, and which one an `Accept` header asks for.

use prometheus_client::encoding::prometheus_text;

/// The two text formats `/metrics` speaks. Both show scrapers the same sample names (counters end in
/// `_total`, histograms in `_bucket`, `_sum` and `_count`); they differ in metadata lines only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4: the default, what `curl` and older scrapers get.
    Prometheus,
    /// OpenMetrics 1.0.0 (with units and `# EOF`), for scrapers that ask for it, as Prometheus does.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header prefers: OpenMetrics if it ranks `application/openmetrics-text`
    /// (version 1.0.0 or none) at least as high as every plain-text range, else the Prometheus text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut open, mut plain) = (0.0_f64, 0.0_f64);
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let (mut q, mut version) = (1.0_f64, None);
            for param in parts {
                match param.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                    Some(("q", value)) => q = value.parse().unwrap_or(0.0),
                    Some(("version", value)) => version = Some(value),
                    _ => {}
                }
            }
            match media.as_str() {
                "application/openmetrics-text" if matches!(version, None | Some("1.0.0")) => open = open.max(q),
                "text/plain" | "text/*" | "*/*" => plain = plain.max(q),
                _ => {}
            }
        }
        if open > 0.0 && open >= plain {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}
