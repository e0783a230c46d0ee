//! Connections and bodies (issue 17, "Timeouts", "Memory for bodies"), against the real
//! binary with small `[connections]` settings: idle connections past the cap never lock a
//! client out, a head or a body sent too slowly is cut off, and bodies past the budget are
//! refused while small requests pass, the server's memory bounded. The store plays no part
//! here, so these run on SQLite only.

use crate::common::{process, ADMIN_TOKEN};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Child;

const HEADER_TIMEOUT_SECS: u64 = 2;
const BODY_TIMEOUT_SECS: u64 = 1;
const MAX_CONNECTIONS: usize = 16;
const BODY_BUDGET: usize = 2 << 20;

/// `kopilka serve` with the small settings above: the child, its `host:port`, its base URL.
async fn serve(dir: &std::path::Path) -> (Child, String, String) {
    let config = dir.join("kopilka.toml");
    std::fs::write(
        &config,
        format!(
            "[connections]\nheader_read_timeout_secs = {HEADER_TIMEOUT_SECS}\n\
             body_read_timeout_secs = {BODY_TIMEOUT_SECS}\nmax_connections = {MAX_CONNECTIONS}\n\
             body_budget_bytes = {BODY_BUDGET}\n"
        ),
    )
    .unwrap();
    let database = format!("sqlite://{}", dir.join("kopilka.db").display());
    let (child, base) =
        process::spawn_serve(&database, dir, &["--config", config.to_str().unwrap()]).await;
    let addr = base.trim_start_matches("http://").to_string();
    (child, addr, base)
}

/// Waits for the server to close `stream` (end of stream or a reset), reading what it sends:
/// the bytes read, or `None` when it stays open past `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut read = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|_| read)
}

async fn healthz(base: &str) -> reqwest::StatusCode {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    http.get(format!("{base}/healthz"))
        .send()
        .await
        .expect("/healthz answers")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_cap_never_lock_a_client_out() {
    let dir = tempfile::tempdir().unwrap();
    let (_child, addr, base) = serve(dir.path()).await;
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS * 4 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // A client sending its request is served at once: each newcomer past the cap closes the
    // oldest idle connection, so the cap never waits for the header timeout.
    let started = Instant::now();
    assert_eq!(healthz(&base).await, reqwest::StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Every idle connection is closed by the header timeout at the latest.
    let deadline = Duration::from_secs(HEADER_TIMEOUT_SECS + 3);
    for (i, stream) in idle.iter_mut().enumerate() {
        let read = closed_within(stream, deadline).await;
        assert!(read.is_some(), "idle connection {i} is closed");
    }
    assert_eq!(healthz(&base).await, reqwest::StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_trickled_slower_than_the_header_timeout_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (_child, addr, base) = serve(dir.path()).await;
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = async {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let header = format!("X-Slow-{i}: a\r\n");
            if slow.write_all(header.as_bytes()).await.is_err() {
                return;
            }
        }
    };
    let cut = tokio::time::timeout(Duration::from_secs(HEADER_TIMEOUT_SECS + 5), trickle).await;
    assert!(cut.is_ok(), "the trickled head is cut off");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(HEADER_TIMEOUT_SECS),
        "not before the timeout: {took:?}"
    );
    assert_eq!(healthz(&base).await, reqwest::StatusCode::OK);
}

/// The head of an admin POST declaring `length` bytes of JSON body.
fn post_head(length: usize) -> String {
    format!(
        "POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// The status of an HTTP/1 answer's first line.
fn status_of(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_slower_than_the_body_timeout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_child, addr, _) = serve(dir.path()).await;
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(post_head(100).as_bytes()).await.unwrap();
    slow.write_all(b"{\"program_id\":").await.unwrap();
    let answer = closed_within(&mut slow, Duration::from_secs(BODY_TIMEOUT_SECS + 5))
        .await
        .expect("the connection is answered and closed");
    assert_eq!(
        status_of(&answer),
        408,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(String::from_utf8_lossy(&answer).contains("body_timeout"));
}

/// The resident memory of process `pid` now and at its peak (`VmRSS`, `VmHWM`), in MiB.
fn rss_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).expect(name);
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The peak a server may reach taking 40 concurrent 15 MB uploads: its own ~50 MiB and a
/// budget of 2 MiB, with room to spare. Without a budget each took 16 MB.
const PEAK_RSS_BOUND_MIB: u64 = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_past_the_budget_are_refused_while_small_requests_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, base) = serve(dir.path()).await;
    let pid = child.id().unwrap();
    // Two bodies of 900 kB, still coming, hold 1.8 MB of the 2 MiB budget.
    let mut holding = Vec::new();
    for _ in 0..2 {
        let mut upload = TcpStream::connect(&addr).await.unwrap();
        upload
            .write_all(post_head(900_000).as_bytes())
            .await
            .unwrap();
        upload.write_all(&[b' '; 1000]).await.unwrap();
        holding.push(upload);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A third cannot fit: refused at once, in the native format.
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(post_head(900_000).as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), third.read(&mut answer))
        .await
        .expect("answered at once")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert_eq!(status_of(answer.as_bytes()), 503, "{answer}");
    assert!(answer.contains("\"busy\""), "{answer}");
    // A small body still fits.
    let http = reqwest::Client::new();
    let small = http
        .post(format!("{base}/v1/programs"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"code": "p", "name": "P", "rules": {"earn_bps": 100}}))
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), reqwest::StatusCode::CREATED);
    drop(holding);

    // 40 uploads of 15 MB at once, none declaring its length: each is refused past the
    // route's 1 MiB or the budget, and the memory stays flat.
    let upload = |_: usize| {
        let addr = addr.clone();
        async move {
            let mut stream = TcpStream::connect(&addr).await.unwrap();
            let head = format!(
                "POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
                 Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            let mut sent = stream.write_all(head.as_bytes()).await;
            let chunk = [
                format!("{:x}\r\n", 1 << 20).into_bytes(),
                vec![b' '; 1 << 20],
            ]
            .concat();
            for _ in 0..15 {
                if sent.is_err() {
                    break;
                }
                sent = stream.write_all(&chunk).await;
                if sent.is_ok() {
                    sent = stream.write_all(b"\r\n").await;
                }
            }
            if sent.is_ok() {
                let _ = stream.write_all(b"0\r\n\r\n").await;
            }
            let answer = closed_within(&mut stream, Duration::from_secs(10)).await;
            answer
                .filter(|a| !a.is_empty())
                .map_or(0, |a| status_of(&a))
        }
    };
    let bounded = |i| async move {
        tokio::time::timeout(Duration::from_secs(30), upload(i))
            .await
            .expect("each upload ends")
    };
    let statuses = futures::future::join_all((0..40).map(bounded)).await;
    // 0: the server closed the connection before its answer could be read.
    assert!(statuses.iter().any(|s| *s != 0), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [0, 413, 503].contains(s)),
        "{statuses:?}"
    );
    let (now, peak) = rss_mib(pid);
    assert!(
        peak < PEAK_RSS_BOUND_MIB,
        "peak RSS {peak} MiB (now {now} MiB)"
    );
    assert_eq!(healthz(&base).await, reqwest::StatusCode::OK);
}
