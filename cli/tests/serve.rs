//! `rulekit serve`: on DynamoDB against the local AWS emulator (started by scripts/test;
//! without it those tests fail), an operator's whole flow over HTTP; on its data file (the
//! default store), everything still there after a restart and after a `kill -9`.

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
    serve_with(
        command,
        &["--store", "memory", "--dev-auth", "--listen", "127.0.0.1:0"],
    )
}

/// A data file of a test's own under the temporary directory, removed when dropped.
struct DataFile(std::path::PathBuf);

impl DataFile {
    fn new(test: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("rulekit-cli-{test}-{}.sqlite", std::process::id()));
        let file = Self(path);
        file.remove();
        file
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path()));
        }
    }
}

impl Drop for DataFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `rulekit serve` on the data file, its default store.
fn serve_file(data: &DataFile) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rulekit"));
    command.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    serve_with(
        command,
        &[
            "--data",
            data.path(),
            "--dev-auth",
            "--listen",
            "127.0.0.1:0",
        ],
    )
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

/// One HTTP/1.1 request to `address` as tenant t1's admin, with `extra` headers; returns the
/// status and the JSON body, or the error of a server that went away before answering.
fn try_request(
    address: &str,
    tenant: &str,
    method: &str,
    path: &str,
    extra: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(address)?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nX-Dev-Tenant: {tenant}\r\n\
         X-Dev-Role: admin\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {response:?}")))?;
    let (_, body) = response.split_once("\r\n\r\n").unwrap_or_default();
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn request_with(
    server: &Server,
    method: &str,
    path: &str,
    extra: &str,
    body: Option<Value>,
) -> (u16, Value) {
    try_request(&server.address, "t1", method, path, extra, body.as_ref()).unwrap()
}

fn request(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    request_with(server, method, path, "", body)
}

/// A request by `tenant`'s admin.
fn request_as(
    server: &Server,
    tenant: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    try_request(&server.address, tenant, method, path, "", body.as_ref()).unwrap()
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

/// Today's date (UTC, the tenants' default zone) and `days` before it.
fn today_minus(days: u64) -> chrono::NaiveDate {
    chrono::Utc::now().date_naive() - chrono::Days::new(days)
}

/// Waits for the server's daily run (every few seconds) to record t1's firings on `date`.
fn firings_recorded(server: &Server, date: chrono::NaiveDate, status: &str) -> Vec<Value> {
    tenant_firings_recorded(server, "t1", date, status)
}

fn tenant_firings_recorded(
    server: &Server,
    tenant: &str,
    date: chrono::NaiveDate,
    status: &str,
) -> Vec<Value> {
    for _ in 0..120 {
        let path = format!("/v1/firings?date={date}&status={status}&limit=1000");
        let (code, page) = request_as(server, tenant, "GET", &path, None);
        assert_eq!(code, 200, "{page}");
        let items = page["items"].as_array().unwrap().clone();
        if !items.is_empty() {
            // The run records its decisions, then its counts and checkpoint: let it finish.
            std::thread::sleep(std::time::Duration::from_millis(500));
            return items;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    panic!("no {status} firing was recorded on {date} within 30 s");
}

#[test]
fn when_rulekit_serve_restarts_on_its_data_file_should_answer_everything_as_before() {
    let data = DataFile::new("restart");
    let server = serve_file(&data);
    let today = today_minus(0);
    let events = json!({"events": [
        {"event_id": "e1", "tenant_id": "t1", "customer_id": "c1", "type": "balance.changed",
         "occurred_at": format!("{}T00:00:00Z", today_minus(30)),
         "balance": {"amount_minor": -5000, "currency": "USD"}},
    ]});
    assert_eq!(request(&server, "POST", "/v1/events", Some(events)).0, 200);
    let automation = json!({"id": "a1", "name": "Past due 14/30",
        "active_from": today_minus(40).to_string(), "backfill": true,
        "trigger": {"type": "past_due", "require_active_subscription": false},
        "actions": [{"type": "notify", "channel": "finance"}]});
    let (status, created) = request(&server, "POST", "/v1/automations", Some(automation));
    assert_eq!(status, 201);
    let mut renamed = created.clone();
    renamed["name"] = json!("Past due, renamed");
    renamed.as_object_mut().unwrap().remove("version");
    let put = |server: &Server, if_match: &str| {
        let header = format!("If-Match: {if_match}\r\n");
        let body = Some(renamed.clone());
        request_with(server, "PUT", "/v1/automations/a1", &header, body).0
    };
    assert_eq!(put(&server, "\"1\""), 200);
    // The daily run of today: c1 is 30 days past due.
    let fired = firings_recorded(&server, today, "pending");
    assert_eq!(fired[0]["threshold_days"], json!(30));
    let read = |server: &Server| {
        let preview = Some(json!({"date": today.to_string()}));
        [
            request(server, "GET", "/v1/automations", None),
            request(server, "GET", "/v1/audit", None),
            request(server, "GET", &format!("/v1/firings?date={today}"), None),
            request(
                server,
                "GET",
                &format!("/v1/customers/c1?date={today}"),
                None,
            ),
            request(server, "POST", "/v1/automations/a1/preview", preview),
        ]
        .map(|(status, mut body)| {
            // The explanation says when it was drawn up.
            body.as_object_mut().map(|b| b.remove("as_of"));
            (status, body)
        })
    };
    let before = read(&server);
    assert_eq!(before[0].1["items"][0]["version"], json!(2));
    assert_eq!(before[3].1["balance"]["amount_minor"], json!(-5000));
    drop(server);

    let server = serve_file(&data);
    assert_eq!(read(&server), before, "the same answers after the restart");
    assert_eq!(put(&server, "\"1\""), 412, "the version kept its place");
    assert_eq!(put(&server, "\"2\""), 200);
}

#[test]
fn when_rulekit_serve_is_killed_during_a_batch_of_writes_should_keep_every_write_it_acknowledged() {
    let data = DataFile::new("kill");
    let mut server = serve_file(&data);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writer = {
        let (address, acknowledged) = (server.address.clone(), acknowledged.clone());
        std::thread::spawn(move || {
            for batch in 0.. {
                let ids: Vec<String> = (0..10).map(|k| format!("c{batch}-{k}")).collect();
                let events: Vec<Value> = ids
                    .iter()
                    .map(|id| {
                        json!({"event_id": format!("e-{id}"),
                    "tenant_id": "t1", "customer_id": id, "type": "balance.changed",
                    "occurred_at": "2026-11-01T10:00:00Z",
                    "balance": {"amount_minor": -1000 - batch, "currency": "USD"}})
                    })
                    .collect();
                let body = json!({"events": events});
                match try_request(&address, "t1", "POST", "/v1/events", "", Some(&body)) {
                    Ok((200, body)) => {
                        let results = body["results"].as_array().unwrap();
                        assert!(results.iter().all(|r| r["result"] == "accepted"), "{body}");
                        acknowledged.lock().unwrap().extend(ids);
                    }
                    Ok((status, body)) => panic!("{status} {body}"),
                    // The server is gone mid-request: nothing of this batch was acknowledged.
                    Err(_) => break,
                }
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SIGKILL, in the middle of the batches: no shutdown, no flush.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    writer.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();

    let server = serve_file(&data);
    for id in &acknowledged {
        let (status, customer) = request(&server, "GET", &format!("/v1/customers/{id}"), None);
        assert_eq!(
            status, 200,
            "{id} was acknowledged, and is not there: {customer}"
        );
        assert!(
            customer["balance"]["amount_minor"].as_i64().unwrap() <= -1000,
            "{id}"
        );
    }
}

#[test]
fn when_a_data_file_is_in_use_or_not_rulekit_s_should_refuse_it_and_change_nothing() {
    let data = DataFile::new("refuse");
    let _first = serve_file(&data);
    let second = Command::new(env!("CARGO_BIN_EXE_rulekit"))
        .args(["serve", "--data", data.path(), "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("is in use by another process"), "{err}");
    assert!(!err.contains("serving the API"), "{err}");

    let other = DataFile::new("not-rulekit");
    let bytes = b"id,amount\n1,100\n".repeat(300);
    std::fs::write(&other.0, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rulekit"))
        .args(["serve", "--data", other.path(), "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a SQLite database"), "{err}");
    assert_eq!(
        std::fs::read(&other.0).unwrap(),
        bytes,
        "the file is left as it was"
    );
}

/// Runs `scripts/<script> BASE SCREENSHOTS MORE...` with the test environment's Python
/// (selenium and Debian's Chromium): it must pass, and answers what it printed.
fn browser_check(script: &str, base: &str, more: &[&str]) -> Value {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test, which installs selenium there",
        python.display()
    );
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    let out = Command::new(python)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../scripts")
                .join(script),
        )
        .arg(base)
        .arg(&shots)
        .args(more)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{script} failed (screenshots in {}):\n{}",
        shots.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn when_an_operator_sets_up_the_seed_automation_in_the_console_should_find_it_after_a_restart() {
    let data = DataFile::new("console");
    let server = serve_file(&data);
    // c1 owes since 14 days before today: the automation set up today fires for it today.
    let today = today_minus(0);
    let owed_since = format!("{}T00:00:00Z", today_minus(14));
    let events = json!({"events": [
        {"event_id": "e1", "tenant_id": "t1", "customer_id": "c1", "type": "balance.changed",
         "occurred_at": owed_since, "balance": {"amount_minor": -5000, "currency": "USD"}},
        {"event_id": "e2", "tenant_id": "t1", "customer_id": "c1", "type": "customer.updated",
         "occurred_at": owed_since, "customer": {"metadata": {"Plan Name": "Gold"}}},
    ]});
    assert_eq!(request(&server, "POST", "/v1/events", Some(events)).0, 200);
    // An escalation that waits for an admin's approval, for the console to approve.
    let escalation = json!({"id": "escalate", "name": "Escalation",
        "active_from": today.to_string(),
        "trigger": {"type": "past_due", "require_active_subscription": false},
        "steps": [{"name": "escalate", "day": 14, "owner": "finance-lead",
            "approval": {"expires_after_days": 7},
            "actions": [{"type": "notify", "channel": "finance"}]}]});
    assert_eq!(
        request(&server, "POST", "/v1/automations", Some(escalation)).0,
        201
    );
    firings_recorded(&server, today, "awaiting_approval");
    // Tenants t2 and t3: 50 customers each, all 14 days past due, and an automation whose run
    // fires for every one of them, so the guardrail holds the firings (SPEC §4), for the
    // console to release t2's and discard t3's. One write registers each tenant with its
    // automation, so its first run sees the automation.
    for tenant in ["t2", "t3"] {
        let events: Vec<Value> = (0..50)
            .map(|i| {
                json!({"event_id": format!("{tenant}-e{i}"), "tenant_id": tenant,
                "customer_id": format!("c{i}"), "type": "balance.changed",
                "occurred_at": owed_since, "balance": {"amount_minor": -5000, "currency": "USD"}})
            })
            .collect();
        let (status, _) = request_as(
            &server,
            tenant,
            "POST",
            "/v1/events",
            Some(json!({"events": events})),
        );
        assert_eq!(status, 200);
        let everyone = json!({"id": "everyone", "name": "Everyone at 14 days",
            "active_from": today.to_string(),
            "trigger": {"type": "past_due", "thresholds_days": [14], "require_active_subscription": false},
            "actions": [{"type": "notify", "channel": "finance"}]});
        let (status, body) = request_as(&server, tenant, "POST", "/v1/automations", Some(everyone));
        assert_eq!(status, 201, "{body}");
    }
    for tenant in ["t2", "t3"] {
        assert_eq!(
            tenant_firings_recorded(&server, tenant, today, "held").len(),
            50
        );
    }

    let base = format!("http://{}", server.address);
    let seen = browser_check("console-check.py", &base, &[&today.to_string()]);
    assert_eq!(seen["passed"].as_array().unwrap().len(), 14, "{seen}");
    // No script error or message; the browser's one network line is the second window's
    // refused edit (412), which the console shows as a conflict.
    let console = seen["console"].as_array().unwrap();
    assert_eq!(console.len(), 1, "{console:?}");
    assert_eq!(console[0]["source"], "network", "{console:?}");
    let message = console[0]["message"].as_str().unwrap();
    assert!(
        message.contains("/v1/automations/past-due-14-30") && message.contains("412"),
        "{message}"
    );
    let requests = seen["requests"].as_array().unwrap();
    assert!(
        requests
            .iter()
            .any(|r| r.as_str().unwrap().ends_with("/v1/automations")),
        "{requests:?}"
    );
    for r in requests {
        // `data:` URLs are the browser's own (a date field's calendar icon): no host. A
        // `blob:` URL of this origin is a report the console fetched, shown in its frame.
        let r = r.as_str().unwrap();
        assert!(
            r.starts_with(&format!("{base}/"))
                || r.starts_with(&format!("blob:{base}/"))
                || r.starts_with("data:"),
            "only this server is asked: {r}"
        );
    }
    drop(server);

    let server = serve_file(&data);
    let (status, list) = request(&server, "GET", "/v1/automations/past-due-14-30", None);
    assert_eq!(status, 200);
    let list = json!({"items": [list]});
    assert_eq!(list["items"][0]["name"], "Past due, first window");
    assert_eq!(
        list["items"][0]["trigger"]["thresholds_days"],
        json!([14, 30])
    );
    assert_eq!(list["items"][0]["version"], 2);
    let (_, approved) = request(
        &server,
        "GET",
        &format!("/v1/firings?date={today}&status=pending"),
        None,
    );
    let approved: Vec<&Value> = approved["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["automation_id"] == "escalate")
        .collect();
    assert_eq!(approved.len(), 1, "the approval the console gave is kept");
    // The playbook the console started from, its step moved, made live.
    let (status, dunning) = request(&server, "GET", "/v1/automations/dunning", None);
    assert_eq!(status, 200);
    assert_eq!(
        (&dunning["mode"], &dunning["version"]),
        (&json!("live"), &json!(3))
    );
    let retry = dunning["segments"][2]["steps"][1].clone();
    assert_eq!(
        (&retry["name"], &retry["day"]),
        (&json!("retry-2"), &json!(5))
    );
    // The rules saved in Settings, and the stored profile normalized to them.
    let (_, settings) = request(&server, "GET", "/v1/settings", None);
    assert_eq!(settings["version"], 1, "{settings}");
    assert_eq!(settings["normalization"]["rules"][1]["type"], "rename_key");
    // The held firings the console released (t2) and discarded (t3).
    for (tenant, status) in [("t2", "pending"), ("t3", "discarded")] {
        let path = format!("/v1/firings?date={today}&status={status}&limit=1000");
        let (_, page) = request_as(&server, tenant, "GET", &path, None);
        assert_eq!(
            page["items"].as_array().unwrap().len(),
            50,
            "{tenant}: {page}"
        );
    }
}

#[test]
fn when_a_deployment_signs_in_with_its_user_pool_should_use_pkce_and_call_the_api_with_the_id_token()
 {
    // The console against a stand-in for the pool's hosted sign-in and API Gateway's JWT
    // authorizer (scripts/console-sign-in-check.py), in front of this server's router.
    let server = serve_memory();
    let seeded = json!({"id": "seeded", "name": "Seeded",
        "trigger": {"type": "past_due", "thresholds_days": [14]},
        "actions": [{"type": "notify", "channel": "finance"}]});
    assert_eq!(
        request(&server, "POST", "/v1/automations", Some(seeded)).0,
        201
    );
    let base = format!("http://{}", server.address);
    let seen = browser_check("console-sign-in-check.py", &base, &[]);
    assert_eq!(seen["passed"].as_array().unwrap().len(), 3, "{seen}");
    assert_eq!(
        seen["console"],
        json!([]),
        "no script error or message: {seen}"
    );
    let origin = seen["origin"].as_str().unwrap();
    for r in seen["requests"].as_array().unwrap() {
        let r = r.as_str().unwrap();
        assert!(
            r.starts_with(&format!("{origin}/")) || r.starts_with("data:"),
            "only the deployment is asked: {r}"
        );
    }
}
