//! Download: `GET .../download` streams the job's file from memory (after a restart, opened from its
//! sealed copy on disk with the request's token first): `application/zstd`, `Content-Length`,
//! a strong `ETag` (the SHA-256), single byte ranges (206, or 416 outside the file), `If-Range` and
//! `If-None-Match`. Several ranges in one request get the whole file (no multipart). `Tws-Stale` and
//! `Tws-Tip-Height` say what chain the file was scanned from, as the status and `ready` event do.

use std::{convert::Infallible, ops::Range, sync::Arc};

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use super::response::{Body, empty};
use crate::service::{
    error::ApiError,
    jobs::Jobs,
    jobs::job::{Job, JobStatus},
    jobs::results::artifact::Artifact,
};

/// `true` when the file was scanned from the last cached chain while the node was unreachable.
pub const STALE_HEADER: &str = "tws-stale";
/// The chain height the file was scanned to (absent for an empty chain).
pub const TIP_HEIGHT_HEADER: &str = "tws-tip-height";

/// What a `Range` header asks for, against a file of known length.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    Whole,
    Part(Range<u64>),
    Unsatisfiable,
}

/// Parses one `bytes=` range. Anything not understood is ignored (the whole file), as RFC 9110 allows.
pub(super) fn parse_range(value: &str, len: u64) -> Wanted {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match number(last) {
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if len == 0 => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part(len.saturating_sub(n)..len),
            None => Wanted::Whole,
        },
        // bytes=A-: from A to the end.
        (false, true) => match number(first) {
            Some(a) if a >= len => Wanted::Unsatisfiable,
            Some(a) => Wanted::Part(a..len),
            None => Wanted::Whole,
        },
        // bytes=A-B, inclusive.
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a > b => Wanted::Whole,
            (Some(a), Some(_)) if a >= len => Wanted::Unsatisfiable,
            (Some(a), Some(b)) => Wanted::Part(a..b.min(len - 1) + 1),
            _ => Wanted::Whole,
        },
        (true, true) => Wanted::Whole,
    }
}

pub(super) async fn download(
    jobs: &Jobs,
    job: &Arc<Job>,
    token: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response<Body>, ApiError> {
    let artifact = jobs.artifact(job, token).await?;
    let etag = artifact.etag();
    let len = artifact.zstd_len;
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if header_str(header::IF_NONE_MATCH).is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        let mut response = Response::new(empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response.headers_mut().insert(header::ETAG, value(&etag));
        return Ok(response);
    }
    // A range applies only to the version the client already has part of.
    let range_applies = header_str(header::IF_RANGE).is_none_or(|v| v.trim() == etag);
    let wanted = match header_str(header::RANGE) {
        Some(range) if range_applies => parse_range(range, len),
        _ => Wanted::Whole,
    };
    let (status, range) = match wanted {
        Wanted::Whole => (StatusCode::OK, 0..len),
        Wanted::Part(range) => (StatusCode::PARTIAL_CONTENT, range),
        Wanted::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(len)),
    };
    let body = if head {
        empty()
    } else {
        stream(&artifact, range.clone())
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zstd"));
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(range.end - range.start));
    out.insert(header::ETAG, value(&etag));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"tari-wallet.zst\""),
    );
    if let JobStatus::Ready { stale, tip_height, .. } = job.status() {
        out.insert(
            STALE_HEADER,
            HeaderValue::from_static(if stale { "true" } else { "false" }),
        );
        if let Some(height) = tip_height {
            out.insert(TIP_HEIGHT_HEADER, HeaderValue::from(height));
        }
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let content_range = format!("bytes {}-{}/{len}", range.start, range.end - 1);
        out.insert(header::CONTENT_RANGE, value(&content_range));
    }
    Ok(response)
}

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("ASCII header value")
}

/// The bytes of `range` as one data frame per chunk slice, straight from memory.
fn stream(artifact: &Artifact, range: Range<u64>) -> Body {
    let frames = artifact
        .slices(range)
        .into_iter()
        .map(|bytes| Ok::<_, Infallible>(Frame::data(bytes)));
    StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_ranges_and_ignores_the_rest() {
        let len = 100;
        let cases = [
            ("bytes=0-9", Wanted::Part(0..10)),
            ("bytes=90-", Wanted::Part(90..100)),
            ("bytes=95-200", Wanted::Part(95..100)),
            ("bytes=-10", Wanted::Part(90..100)),
            ("bytes=-500", Wanted::Part(0..100)),
            ("bytes=99-99", Wanted::Part(99..100)),
            ("bytes=100-", Wanted::Unsatisfiable),
            ("bytes=100-120", Wanted::Unsatisfiable),
            ("bytes=-0", Wanted::Unsatisfiable),
            ("bytes=5-1", Wanted::Whole),
            ("bytes=0-1,5-6", Wanted::Whole),
            ("items=0-1", Wanted::Whole),
            ("bytes=x-1", Wanted::Whole),
            ("bytes=-", Wanted::Whole),
        ];
        for (header, wanted) in cases {
            assert_eq!(parse_range(header, len), wanted, "{header}");
        }
        assert_eq!(parse_range("bytes=0-", 0), Wanted::Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), Wanted::Unsatisfiable);
    }
}
