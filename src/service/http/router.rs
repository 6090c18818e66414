//! Router: matches a request to a route (as the port it came in on serves it), applies the per-IP
//! limits (API requests, and operations routes apart) and the request timeout, calls the route's handler
//! and turns any `ApiError` into its response (`refusal`). Counts every response by route and status.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use super::{
    context::Ctx,
    cors, download, events,
    job_handlers::{self, API_PREFIX},
    ops,
    refusal::error_response,
    response::{Body, text},
    submit,
};
use crate::service::{
    error::ApiError,
    requester::{Client, Port},
};

/// A matched route. The name labels metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    ServerKey,
    Submit,
    Status(String),
    Events(String),
    EventsTicket(String),
    Download(String),
    Delete(String),
    Health,
    Live,
    Ready,
    Metrics,
    OpenApi,
    /// `OPTIONS` on an API path: a browser's CORS preflight.
    Preflight,
    NotFound,
    MethodNotAllowed,
}

impl Route {
    /// The job a job route names.
    fn job_id(&self) -> Option<&str> {
        match self {
            Route::Status(id)
            | Route::Events(id)
            | Route::EventsTicket(id)
            | Route::Download(id)
            | Route::Delete(id) => Some(id),
            _ => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Route::ServerKey => "server_key",
            Route::Submit => "submit",
            Route::Status(_) => "status",
            Route::Events(_) => "events",
            Route::EventsTicket(_) => "events_ticket",
            Route::Download(_) => "download",
            Route::Delete(_) => "delete",
            Route::Health => "health",
            Route::Live => "live",
            Route::Ready => "ready",
            Route::Metrics => "metrics",
            Route::OpenApi => "openapi",
            Route::Preflight => "preflight",
            Route::NotFound => "not_found",
            Route::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// A route of the v1 API (limited by `request_rate_per_ip`); the rest are operations routes and
    /// unknown paths (limited by `ops_rate_per_ip`).
    fn is_api(&self) -> bool {
        !matches!(
            self,
            Route::Health | Route::Live | Route::Ready | Route::Metrics | Route::NotFound | Route::MethodNotAllowed
        )
    }

    pub(super) fn of(method: &Method, path: &str) -> Route {
        let get = method == Method::GET || method == Method::HEAD;
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let api_path = matches!(
            segments.as_slice(),
            ["api", "v1", "openapi.json" | "server-key"]
                | ["api", "v1", "wallet", "sync"]
                | ["api", "v1", "wallet", "sync", _]
                | [
                    "api",
                    "v1",
                    "wallet",
                    "sync",
                    _,
                    "status" | "events" | "events-ticket" | "download"
                ]
        );
        if method == Method::OPTIONS && api_path {
            return Route::Preflight;
        }
        match segments.as_slice() {
            ["health"] if get => Route::Health,
            ["live"] if get => Route::Live,
            ["ready"] if get => Route::Ready,
            ["metrics"] if get => Route::Metrics,
            ["api", "v1", "openapi.json"] if get => Route::OpenApi,
            ["api", "v1", "server-key"] if get => Route::ServerKey,
            ["api", "v1", "wallet", "sync"] if method == Method::POST => Route::Submit,
            ["api", "v1", "wallet", "sync", id, "status"] if get => Route::Status(id.to_string()),
            ["api", "v1", "wallet", "sync", id, "events"] if get => Route::Events(id.to_string()),
            ["api", "v1", "wallet", "sync", id, "events-ticket"] if method == Method::POST => {
                Route::EventsTicket(id.to_string())
            }
            ["api", "v1", "wallet", "sync", id, "download"] if get => Route::Download(id.to_string()),
            ["api", "v1", "wallet", "sync", id] if method == Method::DELETE => Route::Delete(id.to_string()),
            ["health" | "live" | "ready" | "metrics"] => Route::MethodNotAllowed,
            _ if api_path => Route::MethodNotAllowed,
            _ => Route::NotFound,
        }
    }

    /// The route as `port` serves it: the operator's port only the operations routes, the public port
    /// everything but `/metrics` when the operator has a port for it. Elsewhere the path does not exist.
    fn on(self, path: &str, port: Port, metrics_elsewhere: bool) -> Route {
        // The same reading of the path as `of`: `//metrics` is `/metrics`.
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let served = match port {
            Port::Operator => matches!(segments.as_slice(), ["health" | "live" | "ready" | "metrics"]),
            Port::Public => !(metrics_elsewhere && segments == ["metrics"]),
        };
        if served { self } else { Route::NotFound }
    }
}

/// Serves one request.
pub(crate) async fn handle(ctx: Arc<Ctx>, request: Request<Incoming>) -> Response<Body> {
    let config = ctx.jobs.config();
    let path = request.uri().path();
    let route = Route::of(request.method(), path).on(path, ctx.port, config.metrics_listen.is_some());
    let name = route.name();
    let timeout = config.request_timeout;
    // Per request: behind a trusted proxy, one connection carries many clients' requests.
    let client = config.clients.client(ctx.peer.ip(), request.headers());
    // Every answer under /api/v1, errors of unknown paths and methods too, so a page can read its code.
    let api = (route.is_api() || path.starts_with(API_PREFIX)) && matches!(ctx.port, Port::Public);
    let origin = cors::allowed_origin(&config.cors_origins, request.headers()).filter(|_| api);
    let mut response = match tokio::time::timeout(timeout, dispatch(&ctx, &client, route, request, &origin)).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => error_response(&error),
        Err(_) => error_response(&ApiError::Timeout),
    };
    // Errors too: a page can read the error code only from an answer the browser lets it see.
    if api {
        cors::decorate(&mut response, !config.cors_origins.is_empty(), origin);
    }
    ctx.jobs.metrics().http_response(name, response.status().as_u16());
    response
}

async fn dispatch(
    ctx: &Ctx,
    client: &Client,
    route: Route,
    request: Request<Incoming>,
    origin: &Option<HeaderValue>,
) -> Result<Response<Body>, ApiError> {
    if route.is_api() {
        ctx.jobs.check_request_rate(client)?;
    } else {
        ctx.jobs.check_operations_rate(ctx.port, client)?;
    }
    let head = request.method() == Method::HEAD;
    let token = bearer_token(request.headers());
    if let Some(id) = route.job_id() {
        // In a fleet, a job admitted at another replica a moment ago is read from the store.
        ctx.jobs.look_up(id).await;
    }
    match route {
        Route::ServerKey => Ok(ops::server_key(&ctx.jobs)),
        Route::Submit => submit::submit(ctx, client, request).await,
        Route::Status(id) => job_handlers::status(&*ctx.jobs.authorize(&id, token.as_deref())?),
        Route::Events(id) => {
            let ticket = events::ticket(request.uri());
            let job = ctx.jobs.authorize_events(&id, token.as_deref(), ticket)?;
            events::events(ctx, client, job, request.headers())
        }
        Route::EventsTicket(id) => job_handlers::events_ticket(&ctx.jobs, &*ctx.jobs.authorize(&id, token.as_deref())?),
        Route::Download(id) => {
            let job = ctx.jobs.authorize(&id, token.as_deref())?;
            let token = token.as_deref().unwrap_or_default();
            download::download(&ctx.jobs, &job, token, request.headers(), head).await
        }
        Route::Delete(id) => {
            let job = ctx.jobs.authorize(&id, token.as_deref())?;
            job_handlers::delete(&ctx.jobs, &job).await
        }
        Route::Health => Ok(ops::health(&ctx.jobs)),
        Route::Live => Ok(text(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())),
        Route::Ready => Ok(ops::ready(&ctx.jobs)),
        Route::Metrics => Ok(ops::metrics(&ctx.jobs, request.headers())),
        Route::OpenApi => Ok(ops::openapi()),
        Route::Preflight => Ok(cors::preflight(origin.clone())),
        Route::NotFound => Err(ApiError::RouteNotFound),
        Route::MethodNotAllowed => Err(ApiError::MethodNotAllowed),
    }
}

/// The token of `Authorization: Bearer <token>`.
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_methods_and_paths() {
        let id = "0123abcd".to_string();
        let cases = [
            (Method::POST, "/api/v1/wallet/sync", Route::Submit),
            (
                Method::GET,
                "/api/v1/wallet/sync/0123abcd/status",
                Route::Status(id.clone()),
            ),
            (
                Method::GET,
                "/api/v1/wallet/sync/0123abcd/events",
                Route::Events(id.clone()),
            ),
            (
                Method::HEAD,
                "/api/v1/wallet/sync/0123abcd/download",
                Route::Download(id.clone()),
            ),
            (
                Method::DELETE,
                "/api/v1/wallet/sync/0123abcd",
                Route::Delete(id.clone()),
            ),
            (
                Method::POST,
                "/api/v1/wallet/sync/0123abcd/events-ticket",
                Route::EventsTicket(id.clone()),
            ),
            (
                Method::GET,
                "/api/v1/wallet/sync/0123abcd/events-ticket",
                Route::MethodNotAllowed,
            ),
            (Method::GET, "/api/v1/wallet/sync/0123abcd", Route::MethodNotAllowed),
            (Method::GET, "/api/v1/wallet/sync", Route::MethodNotAllowed),
            (Method::POST, "/metrics", Route::MethodNotAllowed),
            (Method::GET, "/api/v1/openapi.json", Route::OpenApi),
            (Method::OPTIONS, "/api/v1/wallet/sync", Route::Preflight),
            (
                Method::OPTIONS,
                "/api/v1/wallet/sync/0123abcd/download",
                Route::Preflight,
            ),
            (Method::OPTIONS, "/metrics", Route::MethodNotAllowed),
            (Method::OPTIONS, "/api/v1/nothing", Route::NotFound),
            (Method::GET, "/api/v2/wallet/sync", Route::NotFound),
            (Method::GET, "/", Route::NotFound),
        ];
        for (method, path, route) in cases {
            assert_eq!(Route::of(&method, path), route, "{method} {path}");
        }
    }

    #[test]
    fn each_port_serves_its_routes() {
        let served = |method: Method, path: &str, port: Port, metrics_elsewhere: bool| {
            Route::of(&method, path).on(path, port, metrics_elsewhere)
        };
        for path in ["/metrics", "//metrics"] {
            assert_eq!(served(Method::GET, path, Port::Public, false), Route::Metrics);
            assert_eq!(served(Method::GET, path, Port::Public, true), Route::NotFound, "{path}");
            assert_eq!(
                served(Method::POST, path, Port::Public, true),
                Route::NotFound,
                "{path}"
            );
            assert_eq!(served(Method::GET, path, Port::Operator, true), Route::Metrics);
        }
        assert_eq!(served(Method::GET, "/ready", Port::Public, true), Route::Ready);
        assert_eq!(served(Method::GET, "/health", Port::Operator, true), Route::Health);
        assert_eq!(
            served(Method::POST, "/live", Port::Operator, true),
            Route::MethodNotAllowed
        );
        for path in ["/api/v1/server-key", "/api/v1/openapi.json", "/api/v1/wallet/sync", "/"] {
            assert_eq!(
                served(Method::GET, path, Port::Operator, true),
                Route::NotFound,
                "{path}"
            );
        }
        assert_eq!(
            served(Method::POST, "/api/v1/wallet/sync", Port::Operator, true),
            Route::NotFound
        );
    }
}
