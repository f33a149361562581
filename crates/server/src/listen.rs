//! Accepting connections, with deadlines for slow clients: a request's headers must arrive
//! within [`HEADER_READ_TIMEOUT`] and its body within [`BODY_READ_TIMEOUT`], so that
//! half-sent requests cannot hold connections (and memory) open indefinitely.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt;

/// How long a client has to send a request's line and headers once it starts one (and to
/// start the next one on a kept-alive connection).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client has to send a request's whole body (the largest, an image of
/// `ingest.max_image_bytes`, takes about 8 s at 10 Mbit/s).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long requests in flight get to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    serve_with(listener, router, HEADER_READ_TIMEOUT, shutdown).await
}

/// [`serve`] with another header deadline (tests).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = router
            .clone()
            .map_request(move |req: Request<hyper::body::Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
                req
            });
        let service = TowerToHyperService::new(service);
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// Middleware: a request body not received within [`BODY_READ_TIMEOUT`] fails, and the
/// handler reading it answers 400 instead of waiting.
pub async fn body_deadline(req: Request, next: Next) -> Response {
    next.run(req.map(|body| with_deadline(body, BODY_READ_TIMEOUT)))
        .await
}

/// `body`, failing when it has not all arrived within `limit`.
pub fn with_deadline(body: Body, limit: Duration) -> Body {
    Body::new(DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(limit)),
        limit,
    })
}

struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(format!(
                "the request body did not arrive within {} s",
                self.limit.as_secs_f32()
            )))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_that_never_finishes_fails_at_the_deadline() {
        let never = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
        let body = with_deadline(Body::from_stream(never), Duration::from_millis(50));
        let started = std::time::Instant::now();
        let read = axum::body::to_bytes(body, usize::MAX).await;
        assert!(read.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
        // A body that is all there passes.
        let body = with_deadline(Body::from("plate"), Duration::from_millis(50));
        assert_eq!(
            &axum::body::to_bytes(body, 100).await.unwrap()[..],
            b"plate"
        );
    }
}
