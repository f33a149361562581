//! Slow clients (issue 27, item 11): a request whose headers do not arrive in time is cut
//! off instead of holding its connection open.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn half_sent_headers_are_cut_off_at_the_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(candor_server::listen::serve_with(
        listener,
        router,
        Duration::from_millis(500),
        async {
            let _ = stopped.await;
        },
    ));
    // A whole request is answered.
    let mut whole = tokio::net::TcpStream::connect(addr).await.unwrap();
    whole
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    whole.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Half a request: the server closes the connection soon after the deadline.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "still open after 10 s");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
    let _ = stop.send(());
    server.await.unwrap();
}
