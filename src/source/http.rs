//! Node client: typed GETs against a base node's HTTP wallet query service (`/get_tip_info`,
//! `/get_header_by_height`, `/sync_utxos_by_block`, `/get_utxos_by_block`), deserializing exactly the
//! official models of `tari_transaction_components::rpc::models`. Owns the transport (hyper-util's
//! pooled HTTP/1.1 client), the per-request timeout and the body limit; not paging (`pager`) nor
//! retrying (`follower`). Plain HTTP only: the query service listens on the node's own host.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde::de::DeserializeOwned;
use tari_transaction_components::{
    rpc::models::{BlockHeader, GetUtxosByBlockResponse, TipInfoResponse},
    transaction_components::TransactionOutput,
};

use super::{
    SourceError,
    wire::{NodeHeader, SyncPage, decode_sync_page},
};

/// The largest `limit` the node accepts on `/sync_utxos_by_block`.
pub const MAX_PAGE_LIMIT: u64 = 2000;

/// Transport limits of a `NodeClient`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Whole request: connect, response head and body. A page of 50 blocks takes a local node well
    /// under a second; 30 s fails only a hung node, and the follower then backs off and retries.
    pub request_timeout: Duration,
    /// TCP connect. The node is local: a refused or silent port is down, not slow.
    pub connect_timeout: Duration,
    /// Largest body read. A sync page holds at most `limit + 1` chunks of 2000 outputs (about 0.7 KB
    /// each in base64) and a block's full outputs a few thousand outputs with range proofs (a few KB
    /// each): 128 MiB covers both at the default page limit and bounds what a broken node can make us
    /// buffer.
    pub max_body: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_body: 128 << 20,
        }
    }
}

/// The node's tip as `/get_tip_info` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeTip {
    pub height: u64,
    pub hash: [u8; 32],
    /// `false` while the node is still syncing: its tip may be far behind the network's.
    pub is_synced: bool,
}

/// A client of one node's wallet query service. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct NodeClient {
    /// `http://host:port` plus any path prefix, without a trailing slash.
    base: String,
    client: Client<HttpConnector, Empty<Bytes>>,
    options: ClientOptions,
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeClient").field("base", &self.base).finish()
    }
}

impl NodeClient {
    /// A client of the query service at `url` (for example `http://127.0.0.1:9000`).
    pub fn new(url: &str) -> Result<NodeClient, SourceError> {
        NodeClient::with_options(url, ClientOptions::default())
    }

    pub fn with_options(url: &str, options: ClientOptions) -> Result<NodeClient, SourceError> {
        let invalid = |reason: &str| SourceError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(_) => return Err(invalid("only http:// is supported (the query service is plain HTTP)")),
            None => return Err(invalid("missing http:// scheme")),
        }
        let authority = uri.authority().ok_or_else(|| invalid("missing host"))?;
        if uri.query().is_some() {
            return Err(invalid("a base URL takes no query"));
        }
        let base = format!("http://{authority}{}", uri.path().trim_end_matches('/'));
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(options.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            // Idle connections to one local node: a follower uses a few at a time, a job's full-output
            // fetches up to `NodeFetchOptions::concurrency` (32); kept, they need no new handshake.
            .pool_max_idle_per_host(32)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(NodeClient { base, client, options })
    }

    /// The base URL requests go to.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `/get_tip_info`, as the official model.
    pub async fn tip_info(&self) -> Result<TipInfoResponse, SourceError> {
        self.get_json(TIP_PATH, "").await
    }

    /// The node's best block. A node without chain metadata (still starting) is a malformed answer.
    pub async fn tip(&self) -> Result<NodeTip, SourceError> {
        node_tip(self.tip_info().await?)
    }

    /// `/get_header_by_height`, as the official model; `None` if the node has no block at `height`.
    pub async fn header_by_height(&self, height: u64) -> Result<Option<BlockHeader>, SourceError> {
        found(self.get_json(HEADER_PATH, &header_query(height)).await)
    }

    /// The header at `height`, reduced to what the follower compares; `None` above the node's tip.
    pub async fn header(&self, height: u64) -> Result<Option<NodeHeader>, SourceError> {
        node_header(height, self.header_by_height(height).await?)
    }

    /// One page of `/sync_utxos_by_block` from the block `start_header_hash`, with `version=1`
    /// encoding, spent outputs and inputs included. `limit` must be in `1..=2000`.
    pub async fn sync_page(
        &self,
        start_header_hash: &[u8; 32],
        limit: u64,
        page: u64,
    ) -> Result<SyncPage, SourceError> {
        let query = sync_query(start_header_hash, limit, page)?;
        let body = self.get(SYNC_PATH, &query).await?;
        decode_sync_page(SYNC_PATH, &body)
    }

    /// `/get_utxos_by_block`, as the official model.
    pub async fn utxos_by_block(&self, header_hash: &[u8; 32]) -> Result<GetUtxosByBlockResponse, SourceError> {
        self.get_json(UTXOS_PATH, &utxos_query(header_hash)).await
    }

    /// The full outputs of the block `header_hash`, for the few blocks where a scan found owned outputs
    /// (the cache keeps only what recognition reads). A block the node does not know is a 404 `Status`.
    pub async fn full_outputs(&self, header_hash: &[u8; 32]) -> Result<Vec<TransactionOutput>, SourceError> {
        block_outputs(header_hash, self.utxos_by_block(header_hash).await?)
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str, query: &str) -> Result<T, SourceError> {
        parse_json(path, &self.get(path, query).await?)
    }

    /// GET `path?query`: the body of a 2xx response, or a `Status` error carrying the node's message.
    async fn get(&self, path: &str, query: &str) -> Result<Bytes, SourceError> {
        let started = Instant::now();
        let url = match query {
            "" => format!("{}{path}", self.base),
            q => format!("{}{path}?{q}", self.base),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| SourceError::malformed(path, format!("request URI: {e}")))?;
        let request = http::Request::get(uri)
            .header(header::ACCEPT, "application/json")
            .body(Empty::new())
            .expect("a GET with a parsed URI and a static header is valid");
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|source| SourceError::Request {
                    path: path.to_owned(),
                    source,
                })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), self.options.max_body)
                .collect()
                .await
                .map_err(|e| match e.downcast_ref::<http_body_util::LengthLimitError>() {
                    Some(_) => SourceError::BodyTooLarge {
                        path: path.to_owned(),
                        limit: self.options.max_body,
                    },
                    None => SourceError::Body {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    },
                })?
                .to_bytes();
            Ok::<_, SourceError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.options.request_timeout, exchange)
            .await
            .map_err(|_| SourceError::Timeout {
                path: path.to_owned(),
                after: self.options.request_timeout,
            })??;
        tracing::trace!(path, status = status.as_u16(), bytes = body.len(), elapsed = ?started.elapsed(), "node request");
        answer(path, status, body)
    }
}

// What the client makes of the node's answers, apart from the transport: the request queries, the status
// check and the decoding of each route's body. Pure, so the fuzz targets (`crate::fuzzing`) drive exactly
// these on arbitrary bodies.

pub(crate) const TIP_PATH: &str = "/get_tip_info";
pub(crate) const HEADER_PATH: &str = "/get_header_by_height";
pub(crate) const SYNC_PATH: &str = "/sync_utxos_by_block";
pub(crate) const UTXOS_PATH: &str = "/get_utxos_by_block";

pub(crate) fn header_query(height: u64) -> String {
    format!("height={height}")
}

/// The query of one sync page; `limit` must be in `1..=2000`.
pub(crate) fn sync_query(start_header_hash: &[u8; 32], limit: u64, page: u64) -> Result<String, SourceError> {
    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(SourceError::malformed(
            SYNC_PATH,
            format!("limit {limit} outside 1..=2000"),
        ));
    }
    Ok(format!(
        "start_header_hash={}&limit={limit}&page={page}&exclude_spent=false&exclude_inputs=false&version=1",
        hex::encode(start_header_hash)
    ))
}

pub(crate) fn utxos_query(header_hash: &[u8; 32]) -> String {
    format!("header_hash={}", hex::encode(header_hash))
}

/// The body of a 2xx answer, or a `Status` error carrying the node's message.
pub(crate) fn answer(path: &str, status: StatusCode, body: Bytes) -> Result<Bytes, SourceError> {
    if status.is_success() {
        Ok(body)
    } else {
        Err(SourceError::Status {
            path: path.to_owned(),
            status: status.as_u16(),
            message: error_message(status, &body),
        })
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, SourceError> {
    serde_json::from_slice(body).map_err(|source| SourceError::Json {
        path: path.to_owned(),
        source,
    })
}

/// A 404 is `None`: the node has no such block.
pub(crate) fn found<T>(answer: Result<T, SourceError>) -> Result<Option<T>, SourceError> {
    match answer {
        Err(SourceError::Status { status: 404, .. }) => Ok(None),
        other => other.map(Some),
    }
}

/// The tip `/get_tip_info` reports; an answer without chain metadata (a node still starting) is malformed.
pub(crate) fn node_tip(info: TipInfoResponse) -> Result<NodeTip, SourceError> {
    let meta = info
        .metadata
        .ok_or_else(|| SourceError::malformed(TIP_PATH, "no chain metadata"))?;
    Ok(NodeTip {
        height: meta.best_block_height(),
        hash: **meta.best_block_hash(),
        is_synced: info.is_synced,
    })
}

/// The header asked for at `height`, which must be the one the node answered with.
pub(crate) fn node_header(height: u64, header: Option<BlockHeader>) -> Result<Option<NodeHeader>, SourceError> {
    if let Some(h) = &header
        && h.height != height
    {
        return Err(SourceError::malformed(
            HEADER_PATH,
            format!("asked for height {height}, got {}", h.height),
        ));
    }
    Ok(header.as_ref().map(NodeHeader::from))
}

/// The outputs of a `/get_utxos_by_block` answer, which must be for the block asked for.
pub(crate) fn block_outputs(
    header_hash: &[u8; 32],
    response: GetUtxosByBlockResponse,
) -> Result<Vec<TransactionOutput>, SourceError> {
    if response.header_hash != header_hash {
        return Err(SourceError::malformed(UTXOS_PATH, "the response is for another block"));
    }
    Ok(response.outputs)
}

/// The node's `{"error": "..."}` message, or the start of whatever it sent, at most 200 characters.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    let text = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.error,
        Err(_) if body.is_empty() => status.canonical_reason().unwrap_or("no body").to_owned(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_plain_http_bases() {
        assert_eq!(
            NodeClient::new("http://127.0.0.1:9000/").unwrap().url(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            NodeClient::new("http://node:9000/api").unwrap().url(),
            "http://node:9000/api"
        );
        for bad in ["https://node:9000", "node:9000", "http://node:9000/?x=1", "not a url"] {
            assert!(
                matches!(NodeClient::new(bad), Err(SourceError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn error_messages_come_from_the_body() {
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, br#"{"error":"Header not found at height: 10"}"#),
            "Header not found at height: 10"
        );
        assert_eq!(
            error_message(StatusCode::SERVICE_UNAVAILABLE, b""),
            "Service Unavailable"
        );
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, &[b'x'; 500]).len(), 200);
    }
}
