//! Shared harness for the server's integration tests: start the real server on 127.0.0.1
//! with port 0 against a temporary data directory, on SQLite and (when
//! `CANDOR_TEST_DATABASE_URL` is set) PostgreSQL.
#![allow(dead_code)]

pub mod browser;

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
            client: candor_server::http_client::local(),
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

// ---- Accounts and sessions (access helper) ----------------------------------------------

/// A user created directly in the store, with an enrolled TOTP authenticator.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub totp_secret: Vec<u8>,
}

/// A signed-in session: the bearer token (also the cookie value) and its CSRF token.
#[derive(Debug, Clone)]
pub struct TestSession {
    pub token: String,
    pub csrf: String,
}

impl TestUser {
    /// The authenticator code for now plus `steps_ahead` 30-second steps.
    pub fn totp_code(&self, steps_ahead: u64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        candor_server::auth::credentials::totp_code_at(&self.totp_secret, now + 30 * steps_ahead)
            .unwrap()
    }
}

impl TestServer {
    /// Creates an account with `role` (policy name), a known password and an enrolled
    /// authenticator, straight in the store.
    pub async fn create_user(&self, username: &str, role: &str) -> TestUser {
        use candor_server::auth::credentials;
        let password = format!("{username} has a long test passphrase");
        let store = &self.state.store;
        let user = store
            .create_user(
                &candor_store::users::NewUser {
                    username: username.to_string(),
                    display_name: format!("Test {username}"),
                    role: role.to_string(),
                    password_hash: credentials::hash_password(&password).unwrap(),
                    created_by: None,
                },
                candor_store::now_ms(),
            )
            .await
            .expect("create user");
        let secret = credentials::new_totp_secret();
        store
            .begin_totp_enrolment(&self.state.keys, user.id, &secret)
            .await
            .unwrap();
        store
            .confirm_totp_enrolment(user.id, 0, &[], candor_store::now_ms())
            .await
            .unwrap();
        let test_user = TestUser {
            id: user.id,
            username: username.to_string(),
            password,
            totp_secret: secret,
        };
        self.acknowledge_policy(&test_user).await;
        self.train_and_grant(&test_user).await;
        test_user
    }

    /// Creates an account like [`TestServer::create_user`] but with no training, no grant
    /// and no policy acknowledgement.
    pub async fn create_bare_user(&self, username: &str, role: &str) -> TestUser {
        let user = self.create_user(username, role).await;
        let pool = self.state.store.pool();
        sqlx::query("DELETE FROM policy_acknowledgements WHERE user_id = $1")
            .bind(user.id)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM training_certificates WHERE user_id = $1")
            .bind(user.id)
            .execute(pool)
            .await
            .unwrap();
        self.state.store.revoke_access(user.id).await.unwrap();
        user
    }

    /// Acknowledges the policy version in force for `user`.
    pub async fn acknowledge_policy(&self, user: &TestUser) {
        let policy = candor_server::routes::policy::policy_in_force(&self.state)
            .await
            .unwrap();
        self.state
            .store
            .acknowledge_policy(user.id, policy.version, candor_store::now_ms())
            .await
            .unwrap();
    }

    /// Records a training certificate valid for a year and grants access to plate data.
    pub async fn train_and_grant(&self, user: &TestUser) {
        let now = candor_store::now_ms();
        let year = 365 * 86_400_000;
        let store = &self.state.store;
        store
            .record_training(
                user.id,
                "ALPR use and policy",
                now - 86_400_000,
                now + year,
                user.id,
                now,
            )
            .await
            .unwrap();
        store.grant_access(user.id, user.id, now).await.unwrap();
    }

    /// A fully signed-in session for `user`, opened straight in the store (no sign-in
    /// request, so tests can open many without tripping the TOTP replay guard).
    pub async fn session_for(&self, user: &TestUser) -> TestSession {
        use candor_server::auth::credentials;
        let token = credentials::random_token();
        let csrf = credentials::random_token();
        self.state
            .store
            .create_session(
                &credentials::token_digest(&token),
                user.id,
                &csrf,
                candor_store::sessions::SessionStage::Full,
                "127.0.0.1",
                candor_store::now_ms(),
            )
            .await
            .expect("create session");
        TestSession { token, csrf }
    }

    /// A client that does not follow redirects (for the console's form flow).
    pub fn no_redirect_client() -> reqwest::Client {
        candor_server::http_client::install_crypto_provider();
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }
}

/// The value of cookie `name` among a response's `Set-Cookie` headers, with the full header.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<(String, String)> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_string();
            (value, v.to_string())
        })
}

// ---- Cameras, hot lists and ingest (ops helper) ----------------------------------------

/// A complete approval record.
pub fn approval() -> candor_store::cameras::Approval {
    candor_store::cameras::Approval {
        consultation_date: Some("2026-01-10".into()),
        permit_reference: Some("PERMIT-7".into()),
        approving_authority: Some("City council".into()),
        approval_date: Some("2026-02-01".into()),
    }
}

pub fn new_camera(
    id: &str,
    approval: candor_store::cameras::Approval,
) -> candor_store::cameras::NewCamera {
    candor_store::cameras::NewCamera {
        id: id.into(),
        name: format!("Camera {id}"),
        kind: candor_store::cameras::CameraKind::Fixed,
        location: "Main St & 3rd".into(),
        latitude: Some(40.0),
        longitude: Some(-75.0),
        direction: "northbound".into(),
        justification: "stolen-vehicle corridor".into(),
        approval,
    }
}

impl TestServer {
    /// Registers an approved camera directly in the store; returns its API key.
    pub async fn camera(&self, id: &str) -> String {
        self.state
            .store
            .create_camera(&new_camera(id, approval()))
            .await
            .expect("create camera")
            .1
    }

    /// Every stored read of `plate` (exact, normalised), newest first, read from the store
    /// directly (no audit, no purpose).
    pub async fn stored_reads(&self, plate: &str) -> Vec<candor_store::reads::StoredRead> {
        self.state
            .store
            .reads_by_plate(&self.state.keys, plate, 0, i64::MAX, 100)
            .await
            .expect("reads of the plate")
    }

    /// Imports a CSV hot list directly and refreshes the matcher.
    pub async fn hot_list(&self, name: &str, hit_type: &str, csv: &str) {
        let spec = candor_store::hotlists::HotListSpec {
            name: name.into(),
            source: candor_store::hotlists::ListSource::State,
            hit_type: hit_type.into(),
            priority: 1,
            hit_retention_secs: None,
        };
        let (list, report) = self
            .state
            .store
            .import_hot_list(&spec, candor_store::hotlists::ImportFormat::Csv, csv, &[])
            .await
            .expect("import");
        assert!(list.is_some(), "{report:?}");
        self.state
            .matcher
            .rebuild(&self.state.store)
            .await
            .expect("rebuild matcher");
    }

    /// POSTs a JSON value with a camera key.
    pub async fn post_json(
        &self,
        path: &str,
        key: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }
}

/// An RFC 3339 time `offset_secs` from now.
pub fn at(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs)).to_rfc3339()
}

// ---- JSON API calls as a signed-in user (federation helper) -----------------------------

impl TestServer {
    /// Calls a JSON route with `session`'s bearer token; the status and the JSON answer
    /// (`Null` when there is none).
    pub async fn call(
        &self,
        session: &TestSession,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&session.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }
}
