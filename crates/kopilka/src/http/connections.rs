//! Serving connections with bounds, so idle or slow clients cannot hold the server
//! (docs/abuse.md, "Connections and bodies"):
//!
//! - a request's head must arrive within the header-read timeout, counted from the moment the
//!   server waits for it — on a new connection and on one kept alive after an answer, so an
//!   idle connection closes after it too (hyper's HTTP/1 `header_read_timeout`);
//! - each piece of a request body must come within the body-read timeout (tower-http's
//!   `TimeoutBody`; the edge answers the failed read in the protocol's format);
//! - at most `max_connections` are served at once. A newcomer past the cap closes the oldest
//!   idle connection (one waiting for a request's head); with none idle, it is closed itself.
//!   So idle attackers never lock out a client that sends its request, and the descriptors in
//!   use stay bounded (a closed connection still writing an answer nobody reads is dropped
//!   after the header timeout);
//! - an accept error (descriptors exhausted) waits before the next accept instead of spinning.
//!
//! HTTP/1 only, as before: HTTP/2 would need limits of its own (streams, header lists).

use crate::config::ConnectionSettings;
use crate::shutdown::Shutdown;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// The bounds `serve` keeps, from `[connections]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
}

impl From<&ConnectionSettings> for Limits {
    fn from(settings: &ConnectionSettings) -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
            body_read_timeout: Duration::from_secs(settings.body_read_timeout_secs),
            max_connections: settings.max_connections,
        }
    }
}

/// The longest pause after an accept error (out of descriptors, say).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` fires, then lets every request in flight
/// finish (idle connections close at once) and returns when all connections are closed.
pub async fn serve<S>(listener: TcpListener, app: S, limits: &Limits, mut shutdown: Shutdown)
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let idle = Arc::new(IdleConnections::default());
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    let mut backoff = Duration::ZERO;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.wait() => break,
            Some(_) = connections.join_next() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                    tracing::warn!("accepting a connection failed, waiting {backoff:?}: {e}");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
        };
        backoff = Duration::ZERO;
        if connections.len() >= limits.max_connections && !idle.close_oldest() {
            // Every connection is busy with a request: this one is not served.
            drop(stream);
            continue;
        }
        next_id += 1;
        let (id, close) = (next_id, Arc::new(Closing::default()));
        let service = {
            let (app, idle, close) = (app.clone(), idle.clone(), close.clone());
            let body_read_timeout = limits.body_read_timeout;
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let busy = idle.busy(id, close.clone());
                let mut request =
                    request.map(|body| Body::new(TimeoutBody::new(body_read_timeout, body)));
                // The peer address for `http::ClientAddr`.
                request.extensions_mut().insert(ConnectInfo(peer));
                let answer = app.clone().oneshot(request);
                async move {
                    let response = answer.await;
                    drop(busy);
                    response
                }
            })
        };
        let served = http.serve_connection(TokioIo::new(stream), service);
        let (idle, mut shutdown) = (idle.clone(), shutdown.clone());
        let grace = limits.header_read_timeout;
        idle.insert(id, close.clone());
        connections.spawn(async move {
            let mut served = std::pin::pin!(served);
            let (mut closing, mut evicted) = (false, false);
            loop {
                tokio::select! {
                    result = served.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!("connection closed: {e}");
                        }
                        break;
                    }
                    // A graceful close: a request in flight is answered first.
                    _ = shutdown.wait(), if !closing => {
                        served.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    _ = close.told.notified(), if !closing => {
                        served.as_mut().graceful_shutdown();
                        (closing, evicted) = (true, true);
                    }
                    // Evicted with no request in flight, it may still be writing an answer
                    // its client does not read: that gets the header timeout, no more.
                    _ = tokio::time::sleep(grace), if evicted => {
                        if !close.busy.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
            }
            idle.remove(id);
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Accept errors that concern only the connection being accepted.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// A connection's close signal, and whether a request is in flight on it.
#[derive(Default)]
struct Closing {
    told: Notify,
    busy: AtomicBool,
}

/// The connections waiting for a request's head, by age (ids grow).
#[derive(Default)]
struct IdleConnections(Mutex<BTreeMap<u64, Arc<Closing>>>);

impl IdleConnections {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Closing>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn insert(&self, id: u64, close: Arc<Closing>) {
        self.lock().insert(id, close);
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Marks the connection busy until the guard drops (HTTP/1 handles one request at a time).
    fn busy(self: &Arc<Self>, id: u64, close: Arc<Closing>) -> Busy {
        self.remove(id);
        close.busy.store(true, Ordering::Relaxed);
        Busy {
            id,
            close,
            idle: self.clone(),
        }
    }

    /// Tells the oldest idle connection to close; false when none is idle.
    fn close_oldest(&self) -> bool {
        match self.lock().pop_first() {
            Some((_, close)) => {
                close.told.notify_one();
                true
            }
            None => false,
        }
    }
}

struct Busy {
    id: u64,
    close: Arc<Closing>,
    idle: Arc<IdleConnections>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.close.busy.store(false, Ordering::Relaxed);
        self.idle.insert(self.id, self.close.clone());
    }
}
