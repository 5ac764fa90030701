//! `rulekit serve --store dynamodb` against the local AWS emulator (started by scripts/test;
//! without it this fails): an operator's whole flow over HTTP.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL is not set: run scripts/test, which starts the local AWS emulator")
    })
}

fn rulekit(prefix: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rulekit"));
    command
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("RULEKIT_TABLE", prefix)
        .env("RULEKIT_TOPIC_PREFIX", prefix)
        .env("RULEKIT_INDEX_SHARDS", "4");
    command
}

/// The server, stopped when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(prefix: &str) -> Server {
    serve_with(
        rulekit(prefix),
        &[
            "--store",
            "dynamodb",
            "--dev-auth",
            "--listen",
            "127.0.0.1:0",
        ],
    )
}

/// The embedded store needs no emulator.
fn serve_memory() -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rulekit"));
    command.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    serve_with(command, &["--dev-auth", "--listen", "127.0.0.1:0"])
}

fn serve_with(mut command: Command, args: &[&str]) -> Server {
    let mut child = command
        .arg("serve")
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("rulekit serve starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    // The rest of stderr (log lines) is read as it comes, so the server never writes to a
    // closed or full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let address = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        address.starts_with("127.0.0.1:"),
        "rulekit serve said: {line}"
    );
    Server { child, address }
}

/// One HTTP/1.1 request as tenant t1's admin, with `extra` headers; returns the status and
/// the JSON body.
fn request_with(
    server: &Server,
    method: &str,
    path: &str,
    extra: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(&server.address).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nX-Dev-Tenant: t1\r\n\
         X-Dev-Role: admin\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.address,
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn request(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    request_with(server, method, path, "", body)
}

#[test]
fn when_an_operator_works_through_rulekit_serve_on_dynamodb_should_see_the_whole_flow() {
    let prefix = format!("cli-serve-{}", std::process::id());
    assert!(
        rulekit(&prefix)
            .arg("setup")
            .output()
            .unwrap()
            .status
            .success()
    );
    let server = serve(&prefix);

    let automation = json!({"id": "a1", "name": "Past due 14/30", "active_from": "2026-10-01",
        "backfill": true,
        "trigger": {"type": "past_due", "require_active_subscription": false},
        "actions": [{"type": "notify", "channel": "finance"}]});
    let (status, created) = request(&server, "POST", "/v1/automations", Some(automation));
    assert_eq!((status, created["version"].clone()), (201, json!(1)));

    let events = json!({"events": [
        {"event_id": "e1", "tenant_id": "t1", "customer_id": "c1", "type": "balance.changed",
         "occurred_at": "2026-11-01T10:00:00Z", "balance": {"amount_minor": -5000, "currency": "USD"}},
        {"event_id": "e2", "tenant_id": "t1", "customer_id": "c2", "type": "balance.changed",
         "occurred_at": "2026-11-03T10:00:00Z", "balance": {"amount_minor": -2500, "currency": "USD"}},
    ]});
    let (status, ingested) = request(&server, "POST", "/v1/events", Some(events));
    assert_eq!(status, 200);
    assert_eq!(ingested["results"][0]["result"], "accepted");
    assert_eq!(ingested["results"][1]["result"], "accepted");

    let (status, preview) = request(
        &server,
        "POST",
        "/v1/automations/a1/preview",
        Some(json!({"date": "2026-11-15"})),
    );
    assert_eq!(status, 200);
    let fired: Vec<&str> = preview["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(fired, ["c1"], "c2 is 12 days past due on 11-15");

    let (status, customer) = request(&server, "GET", "/v1/customers/c2?date=2026-11-15", None);
    assert_eq!(status, 200);
    let why = customer["explanations"][0]["why"].as_str().unwrap();
    assert!(why.contains("12 days past due"), "{why}");

    let mut renamed = created.clone();
    renamed["name"] = json!("Past due, renamed");
    renamed.as_object_mut().unwrap().remove("version");
    let put = |if_match: &str| {
        let header = format!("If-Match: {if_match}\r\n");
        request_with(
            &server,
            "PUT",
            "/v1/automations/a1",
            &header,
            Some(renamed.clone()),
        )
        .0
    };
    assert_eq!(put("\"1\""), 200);
    assert_eq!(put("\"1\""), 412, "the version moved on");

    let (status, audit) = request(&server, "GET", "/v1/audit", None);
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["automation.replaced", "automation.created"]);
    assert_eq!(audit["items"][0]["before"]["name"], "Past due 14/30");
    assert_eq!(audit["items"][0]["after"]["name"], "Past due, renamed");

    let (status, list) = request(&server, "GET", "/v1/automations", None);
    assert_eq!(
        (status, list["items"][0]["version"].clone()),
        (200, json!(2))
    );
}

#[test]
fn when_dev_auth_is_asked_to_listen_beyond_loopback_should_refuse_with_exit_2() {
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let out = Command::new(env!("CARGO_BIN_EXE_rulekit"))
            .args(["serve", "--dev-auth", "--listen", listen])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{listen}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("admin of every tenant"), "{err}");
        assert!(!err.contains("serving the API"), "{err}");
    }
}

#[test]
fn when_a_request_is_too_long_or_not_http_should_answer_problem_json_all_the_same() {
    let server = serve_memory();
    let raw = |request: &[u8]| {
        let mut stream = TcpStream::connect(&server.address).unwrap();
        stream.write_all(request).unwrap();
        // The server closes after answering; a reset may follow the answer, which by then
        // has arrived in full.
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    };
    let long = format!("GET /v1/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let not_http = "NOT HTTP AT ALL\r\n\r\n".to_owned();
    for (request, status) in [(long, "414"), (not_http, "400")] {
        let response = raw(request.as_bytes());
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{response}"
        );
        assert!(
            response.contains("content-type: application/problem+json"),
            "{response}"
        );
        let (_, body) = response.split_once("\r\n\r\n").unwrap();
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["status"].to_string(), status);
    }
}
