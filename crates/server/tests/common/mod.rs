//! Shared harness for the server's integration tests: start the real server on 127.0.0.1
//! with port 0 against a temporary data directory, on SQLite and (when
//! `CANDOR_TEST_DATABASE_URL` is set) PostgreSQL.
#![allow(dead_code)]

use candor_server::{AppState, Config};
use candor_store::testing::TestDb;
use tokio::sync::oneshot;

pub struct TestServer {
    /// e.g. `http://127.0.0.1:41234`
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on `db`, with `configure` applied to the default configuration.
    pub async fn start_with(db: TestDb, configure: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = db.path().join("data");
        candor_server::datadir::init_data_dir(&data_dir, Some(&db.url))
            .await
            .expect("init data dir");
        let mut config = Config::load(&data_dir).expect("load config");
        config.listen = "127.0.0.1:0".into();
        configure(&mut config);
        let state = AppState::open(config).await.expect("open state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                candor_server::serve(state, listener, async {
                    let _ = rx.await;
                })
                .await
                .expect("server runs");
            }
        });
        TestServer {
            base,
            state,
            client: reqwest::Client::new(),
            db,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub async fn start(db: TestDb) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    /// One server per backend under test.
    pub async fn start_all() -> Vec<TestServer> {
        Self::start_all_with(|_| {}).await
    }

    pub async fn start_all_with(configure: impl Fn(&mut Config)) -> Vec<TestServer> {
        let mut out = Vec::new();
        for db in TestDb::all().await.expect("test databases") {
            out.push(Self::start_with(db, &configure).await);
        }
        out
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server and drops the test database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.state.store.close().await;
        let TestServer { db, .. } = self;
        db.finish().await.expect("drop test database");
    }
}
