//! The HTTP endpoint that serves the exposition and the health probes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The largest request head the endpoint reads.
const MAX_HEAD: usize = 8 << 10;
/// How long a scraper may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoint is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `/metrics`: the Prometheus exposition.
    Metrics,
    /// `/readyz`: whether the node serves its stores (an empty answer: ready; else the
    /// reasons it does not, one per line).
    Ready,
}

/// Serves `GET /metrics`, `/livez`, `/readyz` (and a one-line index at `/`) until the
/// listener fails. `answer` renders the exposition, or the reasons the node is not ready,
/// at each request.
///
/// - `/livez`: 200 while the node's process answers (a node whose disk failed exits).
/// - `/readyz`: 200 once the node joined its cluster (it follows the catalogue, whose group
///   has a leader) and every store replica it holds knows its leader and has applied every
///   entry of its log; else 503 with the reasons. For a load balancer or Kubernetes.
pub(crate) async fn serve<F, Fut>(listener: TcpListener, answer: F)
where
    F: Fn(Probe) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = String> + Send,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let answer = answer.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(READ_TIMEOUT * 2, answer_http(stream, answer)).await;
        });
    }
}

async fn answer_http<F, Fut>(mut stream: TcpStream, answer: F) -> std::io::Result<()>
where
    F: Fn(Probe) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return respond(&mut stream, "431 Request Header Fields Too Large", "text/plain", "request too large\n")
                .await;
        }
        let read = match tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk)).await {
            Ok(read) => read?,
            Err(_) => return Ok(()),
        };
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let line = head.split(|&byte| byte == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = path.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET", "/metrics") => {
            let page = answer(Probe::Metrics).await;
            respond(&mut stream, "200 OK", "text/plain; version=0.0.4; charset=utf-8", &page).await
        }
        ("GET", "/livez") => respond(&mut stream, "200 OK", "text/plain", "ok\n").await,
        ("GET", "/readyz") => {
            let reasons = answer(Probe::Ready).await;
            if reasons.is_empty() {
                respond(&mut stream, "200 OK", "text/plain", "ready\n").await
            } else {
                respond(&mut stream, "503 Service Unavailable", "text/plain", &reasons).await
            }
        }
        ("GET", "/") => {
            respond(&mut stream, "200 OK", "text/plain", "clustron node: /metrics, /livez, /readyz\n").await
        }
        ("GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "not found: try /metrics\n").await,
        _ => respond(&mut stream, "405 Method Not Allowed", "text/plain", "only GET\n").await,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
