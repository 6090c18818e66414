//! CORS: which browser pages may call the API. The operator lists exact origins (`cors_origins`); a
//! request whose `Origin` is one of them gets `Access-Control-Allow-Origin` echoing it, and a preflight
//! (`OPTIONS`) the methods and headers a wallet page sends. Any other origin gets no CORS header at all,
//! so the browser keeps the answer from that page. No credentials mode: the API's credentials are bearer
//! tokens, never cookies.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use super::response::{Body, empty};

/// The methods of the API routes.
const ALLOW_METHODS: &str = "GET, HEAD, POST, DELETE, OPTIONS";
/// What a wallet page sends: its bearer token, JSON bodies, an event stream's resume point, a resumed
/// download's range (and the `If-Range` that goes with it).
const ALLOW_HEADERS: &str = "authorization, content-type, last-event-id, range, if-range";
/// Response headers a page may read besides the CORS-safelisted ones: a download's version, range and
/// length, when to retry, a new job's status URL, and how current a file is.
const EXPOSE_HEADERS: &str = "ETag, Content-Range, Content-Length, Retry-After, Location, Tws-Stale, Tws-Tip-Height";
/// How long a browser may keep a preflight's answer (10 min, Chromium's ceiling is 2 h): the answer only
/// changes when the operator changes `cors_origins`.
const MAX_AGE_SECONDS: &str = "600";

/// The request's `Origin` if the operator allows it.
pub(super) fn allowed_origin(allowed: &[String], headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    allowed.iter().any(|a| a == text).then(|| origin.clone())
}

/// The answer to `OPTIONS` on an API route: `204` and, for an allowed origin, what it may send.
pub(super) fn preflight(origin: Option<HeaderValue>) -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(ALLOW_METHODS));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECONDS),
        );
    }
    response
}

/// Marks an API response for the page of an allowed origin. Whenever origins are configured the answer
/// depends on `Origin`, so caches are told (`Vary`) even when this one carries no CORS header.
pub(super) fn decorate(response: &mut Response<Body>, configured: bool, origin: Option<HeaderValue>) {
    if !configured {
        return;
    }
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers
            .entry(header::ACCESS_CONTROL_EXPOSE_HEADERS)
            .or_insert(HeaderValue::from_static(EXPOSE_HEADERS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_listed_origin_is_echoed() {
        let allowed = vec!["https://wallet.example".to_string()];
        let mut headers = HeaderMap::new();
        assert_eq!(allowed_origin(&allowed, &headers), None);
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert_eq!(allowed_origin(&allowed, &headers), None);
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://wallet.example"));
        assert_eq!(
            allowed_origin(&allowed, &headers).unwrap(),
            HeaderValue::from_static("https://wallet.example")
        );
    }
}
