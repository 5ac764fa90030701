//! A loopback HTTP proxy in front of the emulator that counts requests by operation and can
//! inject faults: fail a share of responses *after* the request reached the emulator (the
//! write landed, the caller never hears so), fail every request whose body contains a marker
//! (a dependency that keeps throttling), or answer nothing at all (a stalled dependency).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Responses to fail after forwarding, in percent (0-100).
    pub fail_after_forward_percent: u64,
    /// The first response to this operation (`TransactWriteItems`, ...) fails after forwarding.
    pub fail_first_after_forward: Option<&'static str>,
    /// Requests whose body contains this text fail before reaching the emulator.
    pub fail_when_body_contains: Option<String>,
    /// Every request is read and never answered (a stalled service).
    pub stall: bool,
    pub seed: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    requests: Mutex<BTreeMap<String, u64>>,
    actions: Mutex<BTreeSet<String>>,
    injected: AtomicU64,
}

impl Stats {
    /// Requests seen, by operation (`TransactWriteItems`, `Query`, `PublishBatch`, ...).
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.requests.lock().unwrap().clone()
    }

    /// The IAM actions the requests needed (`dynamodb:PutItem`, `sns:Publish`, ...): what the
    /// caller's role must allow.
    pub fn iam_actions(&self) -> BTreeSet<String> {
        self.actions.lock().unwrap().clone()
    }

    pub fn count(&self, operation: &str) -> u64 {
        self.requests().get(operation).copied().unwrap_or(0)
    }

    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.requests.lock().unwrap().clear();
        self.actions.lock().unwrap().clear();
        self.injected.store(0, Ordering::Relaxed);
    }
}

pub struct Proxy {
    pub endpoint: String,
    pub stats: Arc<Stats>,
}

struct Shared {
    upstream: String,
    faults: Faults,
    stats: Arc<Stats>,
    rng: Mutex<u64>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Shared {
    fn roll(&self, percent: u64) -> bool {
        let mut x = self.rng.lock().unwrap();
        // xorshift64*: deterministic for a seed.
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        r % 100 < percent
    }
}

/// The operation a request calls: `X-Amz-Target` for JSON protocols (DynamoDB, SQS), the
/// `Action` form field for query protocols (SNS).
fn operation(req: &hyper::http::request::Parts, body: &[u8]) -> String {
    if let Some(target) = req
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("unknown")
        .to_owned()
}

/// The IAM actions a request needs. The service is the SigV4 credential scope's; a
/// transaction needs the action of each item it writes; a batch publish or send needs the
/// single-message action.
fn iam_actions(req: &hyper::http::request::Parts, operation: &str, body: &[u8]) -> Vec<String> {
    let service = req
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').nth(3))
        .unwrap_or("unknown")
        .to_owned();
    let operations: Vec<String> = match operation {
        "TransactWriteItems" => {
            let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item.as_object()?.keys().next().cloned())
                .map(|kind| match kind.as_str() {
                    "ConditionCheck" => "ConditionCheckItem".to_owned(),
                    other => format!("{other}Item"),
                })
                .collect()
        }
        "PublishBatch" => vec!["Publish".to_owned()],
        "SendMessageBatch" => vec!["SendMessage".to_owned()],
        other => vec![other.to_owned()],
    };
    operations
        .into_iter()
        .map(|op| format!("{service}:{op}"))
        .collect()
}

fn injected_error() -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from_static(
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test proxy"}"#,
        )))
        .unwrap()
}

async fn forward(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let op = operation(&parts, &body);
    let first_of_its_operation = !shared.stats.requests.lock().unwrap().contains_key(&op);
    let fail_first = first_of_its_operation && shared.faults.fail_first_after_forward == Some(&op);
    shared
        .stats
        .actions
        .lock()
        .unwrap()
        .extend(iam_actions(&parts, &op, &body));
    *shared.stats.requests.lock().unwrap().entry(op).or_default() += 1;

    if shared.faults.stall {
        shared.stats.injected.fetch_add(1, Ordering::Relaxed);
        std::future::pending::<()>().await;
    }
    if let Some(marker) = &shared.faults.fail_when_body_contains
        && String::from_utf8_lossy(&body).contains(marker.as_str())
    {
        shared.stats.injected.fetch_add(1, Ordering::Relaxed);
        return Ok(injected_error());
    }

    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut upstream = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{}{path}", shared.upstream));
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST {
            upstream = upstream.header(name, value);
        }
    }
    let response = shared
        .client
        .request(upstream.body(Full::new(body))?)
        .await?;
    let (rparts, rbody) = response.into_parts();
    let rbody = rbody.collect().await?.to_bytes();

    // The emulator has done the work; now the caller may never hear of it.
    if fail_first {
        shared.stats.injected.fetch_add(1, Ordering::Relaxed);
        return Ok(injected_error());
    }
    if shared.roll(shared.faults.fail_after_forward_percent) {
        shared.stats.injected.fetch_add(1, Ordering::Relaxed);
        if shared.roll(50) {
            // Drop the connection without a response.
            return Err("connection dropped by the test proxy".into());
        }
        return Ok(injected_error());
    }
    Ok(Response::from_parts(rparts, Full::new(rbody)))
}

/// Starts a proxy on a free loopback port in front of `upstream` (e.g. `http://127.0.0.1:4566`).
/// It runs until the test's runtime ends.
pub async fn start(upstream: &str, faults: Faults) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let stats = Arc::new(Stats::default());
    let shared = Arc::new(Shared {
        upstream: upstream.trim_end_matches('/').to_owned(),
        rng: Mutex::new(faults.seed | 1),
        faults,
        stats: stats.clone(),
        client: Client::builder(TokioExecutor::new()).build_http(),
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| forward(shared.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Proxy { endpoint, stats }
}
