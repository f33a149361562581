//! Configuration: `candor.toml` in the data directory, with `CANDOR_*` environment overrides.
//!
//! Operational knobs only. What the agency promises the public (how long records are kept,
//! the purposes a search may give) is the published policy document; a file or environment
//! that still sets retention the old way is refused ([`RetentionNowInPolicy`]).

use std::path::{Path, PathBuf};

use candor_platetext::formats::RegionSet;
use serde::{Deserialize, Serialize};

pub const CONFIG_FILE: &str = "candor.toml";

/// The data directory's copy of the recognition models, made by `candor init`.
pub const MODELS_DIR: &str = "models";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: String,
    /// `sqlite:///…` or `postgres://…`; empty means `candor.db` in the data directory.
    pub database_url: String,
    pub agency_name: String,
    pub ingest: IngestConfig,
    pub retention: RetentionConfig,
    pub matching: MatchingConfig,
    pub hot_plates: HotPlateConfig,
    pub audit: AuditConfig,
    pub streams: StreamsConfig,
    /// Added as `[[webhooks]]` tables (any number). Not written when empty, so that the file
    /// `candor init` writes takes the documented `[[webhooks]]` example appended as it is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookConfig>,
    /// PEM file of certificate authorities trusted for outbound TLS (webhooks, partner
    /// instances) in addition to the system's; relative paths are under the data directory.
    pub outbound_ca_file: Option<PathBuf>,
    /// Folder of the recognition models (manifest.toml), relative to the data directory;
    /// empty: the data directory's `models/` (which `candor init` fills), else
    /// `CANDOR_MODELS`, the nearest `models/` folder or the one beside the executable.
    pub models_dir: String,
    /// Regions whose plates the cameras see (`["US-NY", "US-NJ"]`, `["BR"]`): frame reads
    /// favour their layouts. Empty: every known layout counts alike.
    pub plate_regions: Vec<String>,
    /// Reverse proxies in front of the server (their addresses, e.g. `["127.0.0.1"]`): for a
    /// request from one, the client's address is taken from `X-Forwarded-For`, so sign-in
    /// throttling and audit records see each client rather than the proxy. Empty: every
    /// peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The data directory (set at load time, not read from the file).
    #[serde(skip)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest accepted JSON body, bytes.
    pub max_body_bytes: usize,
    /// Most reads in one batch.
    pub max_batch_reads: usize,
    /// Largest accepted image upload, bytes.
    pub max_image_bytes: usize,
    /// Image uploads decoded and read at once (each may take a few hundred megabytes).
    pub recognitions_at_once: usize,
    /// Image uploads that may wait for one of those places; beyond, 503 with `Retry-After`.
    pub recognition_queue: usize,
    /// Transition for OpenALPR agents that cannot send a header: accept the camera key as
    /// `?api_key=` on `/api/v1/openalpr` (only). Off by default: keys in URLs end up in logs.
    pub allow_key_in_url: bool,
    /// How far a capture time may lie in the future (camera clock ahead), seconds.
    pub max_future_skew_secs: i64,
    /// How old a capture time may be when it arrives (a camera clock far behind, or a
    /// backlog), seconds.
    pub max_past_skew_secs: i64,
}

/// How retention runs. How long each class of record is kept is the published policy's
/// `retention` (and `jurisdiction`), not set here.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Length of an encryption-key window, seconds (default one day).
    pub key_window_secs: i64,
    /// How often `serve` runs the purge, seconds.
    pub purge_interval_secs: u64,
}

/// `[retention]` keys that once set how long records are kept; that is the policy's now.
const RETIRED_RETENTION_KEYS: [&str; 6] = [
    "profile",
    "version",
    "non_hit_secs",
    "hit_secs",
    "image_secs",
    "audit_secs",
];

/// The environment variable that once named a retention profile.
const RETIRED_PROFILE_VARIABLE: &str = "CANDOR_RETENTION_PROFILE";

/// A configuration that still sets retention, which comes from the published policy now.
/// Refused rather than ignored, so that no agency believes it keeps records for one period
/// while another is in force.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{setting} is no longer read: how long records are kept comes from the published policy \
     alone now, so that what the public is told is what the purge does. Remove it, and have \
     a program manager publish a policy (the console's Policy page, or PUT /api/v1/policy) \
     whose \"retention\" section gives each period{hint}. [retention] keeps only \
     key_window_secs and purge_interval_secs; GET /api/v1/retention shows the retention in \
     force",
    hint = jurisdiction_hint(.profile.as_deref())
)]
pub struct RetentionNowInPolicy {
    /// The setting as written (`[retention] profile = "utah"`).
    pub setting: String,
    /// The profile it named, if it named one.
    pub profile: Option<String>,
}

/// For a profile that named a state: the policy's `jurisdiction` that holds its limit.
fn jurisdiction_hint(profile: Option<&str>) -> String {
    let state = profile.and_then(|p| {
        serde_json::from_value::<candor_policy::Jurisdiction>(serde_json::json!(p)).ok()
    });
    match (profile, state) {
        (Some(p), Some(j)) => format!(
            " and whose \"jurisdiction\" is {p:?}, so that {} law's limit is checked",
            j.name()
        ),
        _ => ", with its \"jurisdiction\" where state law limits retention".into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchingConfig {
    /// Look-alike substitutions allowed per read (0–2).
    pub lookalike_budget: u8,
    /// Also match one missing or extra character.
    pub allow_indel: bool,
    /// NCIC hit types (list codes) this agency excludes from matching, e.g. ["K"].
    pub excluded_hit_types: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HotPlateConfig {
    /// Longest expiry a user hot plate may have, days.
    pub max_days: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// How often `serve` signs an audit checkpoint (when the chain has grown since the last
    /// one), seconds: 10 to 86,400. Plate access gets one within a minute regardless
    /// (`routes::audit::audit_chores`).
    pub checkpoint_interval_secs: u64,
}

/// How camera streams are watched (cameras with a stream address; see the operator guide).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamsConfig {
    /// Watch the streams of approved cameras. Off: stream addresses are kept, not watched.
    pub enabled: bool,
    /// Frames read per second of each stream (the stream's own rate is thinned to this).
    pub fps: f32,
    /// Mean change of a thumbnail pixel (0–255) between frames that counts as motion; frames
    /// without motion are not read. 0 reads every frame.
    pub motion_threshold: f32,
    /// A plate not seen for this long has passed, milliseconds.
    pub pass_gap_ms: i64,
    /// Frames a plate must be read in to count as a pass (unless one read is 90 % sure).
    pub min_sightings: usize,
    /// Accept a local video file as a camera's stream (for trying a setup out). Off: only
    /// rtsp://, rtsps://, http:// and https:// addresses.
    pub allow_files: bool,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            enabled: true,
            fps: 5.0,
            motion_threshold: 1.5,
            pass_gap_ms: 1500,
            min_sightings: 2,
            allow_files: false,
        }
    }
}

/// Bounds of `audit.checkpoint_interval_secs`: often enough to matter, never so often
/// that the checkpoint table becomes a second log.
pub const CHECKPOINT_INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 10..=86_400;

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_interval_secs: 15 * 60,
        }
    }
}

impl AuditConfig {
    pub fn checkpoint_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.checkpoint_interval_secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `https://…`; plain `http://` only to localhost.
    pub url: String,
    /// HMAC-SHA256 key for the `X-Candor-Signature` header.
    pub secret: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: String::new(),
            agency_name: "Candor agency".into(),
            ingest: IngestConfig::default(),
            retention: RetentionConfig::default(),
            matching: MatchingConfig::default(),
            hot_plates: HotPlateConfig::default(),
            audit: AuditConfig::default(),
            streams: StreamsConfig::default(),
            webhooks: Vec::new(),
            outbound_ca_file: None,
            models_dir: String::new(),
            plate_regions: Vec::new(),
            trusted_proxies: Vec::new(),
            data_dir: PathBuf::new(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 4 * 1024 * 1024,
            max_batch_reads: 1000,
            max_image_bytes: 10 * 1024 * 1024,
            recognitions_at_once: 2,
            recognition_queue: 8,
            allow_key_in_url: false,
            max_future_skew_secs: 300,
            max_past_skew_secs: 7 * 86_400,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            key_window_secs: 86_400,
            purge_interval_secs: 300,
        }
    }
}

impl Default for MatchingConfig {
    fn default() -> Self {
        MatchingConfig {
            lookalike_budget: 1,
            allow_indel: false,
            excluded_hit_types: Vec::new(),
        }
    }
}

impl Default for HotPlateConfig {
    fn default() -> Self {
        HotPlateConfig { max_days: 30 }
    }
}

impl Config {
    /// Reads `candor.toml` from `data_dir` (defaults if absent), then applies `CANDOR_*`
    /// environment overrides, then checks the result.
    pub fn load(data_dir: &Path) -> anyhow::Result<Config> {
        let path = data_dir.join(CONFIG_FILE);
        let mut config: Config = if path.exists() {
            let text = std::fs::read_to_string(&path)?;
            Config::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        } else {
            Config::default()
        };
        config.data_dir = data_dir.to_path_buf();
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Reads the text of a `candor.toml`. A retention setting that moved to the policy is
    /// refused with [`RetentionNowInPolicy`], which says where it went.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        if let Ok(table) = toml::from_str::<toml::Table>(text)
            && let Some(toml::Value::Table(retention)) = table.get("retention")
            && let Some((key, value)) = retention
                .iter()
                .find(|(k, _)| RETIRED_RETENTION_KEYS.contains(&k.as_str()))
        {
            return Err(RetentionNowInPolicy {
                setting: format!("[retention] {key} = {value}"),
                profile: value
                    .as_str()
                    .filter(|_| key == "profile")
                    .map(String::from),
            }
            .into());
        }
        Ok(toml::from_str(text)?)
    }

    /// Applies overrides from an environment lookup (injected for testing).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get(RETIRED_PROFILE_VARIABLE) {
            return Err(RetentionNowInPolicy {
                setting: format!("{RETIRED_PROFILE_VARIABLE}={v}"),
                profile: Some(v),
            }
            .into());
        }
        if let Some(v) = get("CANDOR_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = get("CANDOR_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = get("CANDOR_AGENCY_NAME") {
            self.agency_name = v;
        }
        if let Some(v) = get("CANDOR_PURGE_INTERVAL_SECS") {
            self.retention.purge_interval_secs = v.parse().map_err(|_| {
                anyhow::anyhow!(
                    "CANDOR_PURGE_INTERVAL_SECS must be a whole number of seconds, got {v:?}"
                )
            })?;
        }
        if let Some(v) = get("CANDOR_AUDIT_CHECKPOINT_INTERVAL_SECS") {
            self.audit.checkpoint_interval_secs = v.parse().map_err(|_| {
                anyhow::anyhow!(
                    "CANDOR_AUDIT_CHECKPOINT_INTERVAL_SECS must be a whole number of seconds, got {v:?}"
                )
            })?;
        }
        if let Some(v) = get("CANDOR_LOOKALIKE_BUDGET") {
            self.matching.lookalike_budget = v.parse().map_err(|_| {
                anyhow::anyhow!("CANDOR_LOOKALIKE_BUDGET must be 0, 1 or 2, got {v:?}")
            })?;
        }
        Ok(())
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.matching.lookalike_budget > 2 {
            anyhow::bail!(
                "matching.lookalike_budget is {}, but at most 2 is allowed",
                self.matching.lookalike_budget
            );
        }
        if self.retention.key_window_secs <= 0 {
            anyhow::bail!("retention.key_window_secs must be positive");
        }
        if !CHECKPOINT_INTERVAL_RANGE.contains(&self.audit.checkpoint_interval_secs) {
            anyhow::bail!(
                "audit.checkpoint_interval_secs is {}; it must be between {} and {} seconds",
                self.audit.checkpoint_interval_secs,
                CHECKPOINT_INTERVAL_RANGE.start(),
                CHECKPOINT_INTERVAL_RANGE.end()
            );
        }
        if self.hot_plates.max_days <= 0 {
            anyhow::bail!("hot_plates.max_days must be positive");
        }
        let st = &self.streams;
        if !(0.2..=30.0).contains(&st.fps) {
            anyhow::bail!("streams.fps is {}; it must be between 0.2 and 30", st.fps);
        }
        if !(0.0..=255.0).contains(&st.motion_threshold) {
            anyhow::bail!("streams.motion_threshold must be between 0 and 255");
        }
        if !(200..=60_000).contains(&st.pass_gap_ms) {
            anyhow::bail!("streams.pass_gap_ms must be between 200 and 60000");
        }
        if st.min_sightings == 0 {
            anyhow::bail!("streams.min_sightings must be at least 1");
        }
        for hook in &self.webhooks {
            crate::http_client::check_outbound_url(&hook.url)
                .map_err(|e| anyhow::anyhow!("webhooks: {e}"))?;
        }
        self.plate_regions()?;
        Ok(())
    }

    /// The layouts of `plate_regions`; `None` when none are named.
    pub fn plate_regions(&self) -> anyhow::Result<Option<RegionSet>> {
        RegionSet::named(&self.plate_regions).map_err(|e| anyhow::anyhow!("plate_regions: {e}"))
    }

    /// The outbound CA file, resolved against the data directory.
    pub fn outbound_ca_path(&self) -> Option<PathBuf> {
        self.outbound_ca_file
            .as_ref()
            .map(|p| self.data_dir.join(p))
    }

    /// The database url, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("candor.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The recognition models' folder, as `models_dir` says; `None` when none is found.
    pub fn models_path(&self) -> Option<PathBuf> {
        if !self.models_dir.is_empty() {
            return Some(self.data_dir.join(&self.models_dir));
        }
        let own = self.data_dir.join(MODELS_DIR);
        if own.join("manifest.toml").is_file() {
            return Some(own);
        }
        candor_vision::default_models_dir()
    }

    pub fn key_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    pub fn image_dir(&self) -> PathBuf {
        self.data_dir.join("images")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_interval_from_file_and_environment() {
        assert_eq!(
            Config::default().audit.checkpoint_interval(),
            std::time::Duration::from_secs(900)
        );
        let mut config: Config =
            toml::from_str("[audit]\ncheckpoint_interval_secs = 60\n").unwrap();
        config.validate().unwrap();
        assert_eq!(config.audit.checkpoint_interval_secs, 60);
        config
            .apply_env(|k| (k == "CANDOR_AUDIT_CHECKPOINT_INTERVAL_SECS").then(|| "120".into()))
            .unwrap();
        assert_eq!(config.audit.checkpoint_interval_secs, 120);

        let e = config
            .apply_env(|k| (k == "CANDOR_AUDIT_CHECKPOINT_INTERVAL_SECS").then(|| "2m".into()))
            .unwrap_err();
        assert!(e.to_string().contains("whole number of seconds"), "{e}");
        for bad in [0, 5, 86_401] {
            config.audit.checkpoint_interval_secs = bad;
            let e = config.validate().unwrap_err();
            assert!(e.to_string().contains("between 10 and 86400"), "{e}");
        }
        let e = toml::from_str::<Config>("[audit]\ncheckpoint_every = 60\n").unwrap_err();
        assert!(e.to_string().contains("checkpoint_every"), "{e}");
    }

    #[test]
    fn plate_regions_name_known_layouts() {
        assert!(Config::default().plate_regions().unwrap().is_none());
        let config: Config = toml::from_str("plate_regions = [\"us-ny\", \"US-NJ\"]\n").unwrap();
        config.validate().unwrap();
        let regions = config.plate_regions().unwrap().unwrap();
        assert_eq!(regions.codes(), ["US-NY", "US-NJ"]);
        let config: Config = toml::from_str("plate_regions = [\"BR\", \"ZZ\"]\n").unwrap();
        let e = config.validate().unwrap_err().to_string();
        assert!(e.contains("plate_regions") && e.contains("\"ZZ\""), "{e}");
    }

    /// Issue 24: retention comes from the published policy alone; a `candor.toml` (or the
    /// environment) that still sets it the old way stops the start with where it went.
    #[test]
    fn retention_set_in_the_configuration_is_refused_with_where_it_went() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[retention]\nprofile = \"utah\"\npurge_interval_secs = 60\n",
        )
        .unwrap();
        let e = Config::load(dir.path()).unwrap_err().to_string();
        for needle in [
            "candor.toml: [retention] profile = \"utah\" is no longer read",
            "comes from the published policy alone",
            "whose \"retention\" section gives each period",
            "and whose \"jurisdiction\" is \"utah\", so that Utah law's limit is checked",
            "PUT /api/v1/policy",
            "keeps only key_window_secs and purge_interval_secs",
        ] {
            assert!(e.contains(needle), "{needle:?} in {e}");
        }

        let e = Config::parse("[retention]\nnon_hit_secs = 1814400\n").unwrap_err();
        let moved = e.downcast_ref::<RetentionNowInPolicy>().unwrap();
        assert_eq!(moved.setting, "[retention] non_hit_secs = 1814400");
        assert!(
            e.to_string()
                .contains("with its \"jurisdiction\" where state law"),
            "{e}"
        );

        let e = Config::default()
            .apply_env(|k| (k == "CANDOR_RETENTION_PROFILE").then(|| "maine".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("CANDOR_RETENTION_PROFILE=maine is no longer read"),
            "{e}"
        );
        assert!(e.contains("\"jurisdiction\" is \"maine\""), "{e}");

        // What stays under [retention] is read, and the file `candor init` writes has no
        // retention period in it.
        let config =
            Config::parse("[retention]\nkey_window_secs = 3600\npurge_interval_secs = 60\n")
                .unwrap();
        config.validate().unwrap();
        assert_eq!(config.retention.purge_interval_secs, 60);
        let initial = crate::datadir::initial_config_text(&Config::default()).unwrap();
        Config::parse(&initial).unwrap();
        // Other unknown keys are still named by the parser.
        let e = Config::parse("[retention]\nkeep_for = 3\n").unwrap_err();
        assert!(e.to_string().contains("keep_for"), "{e}");
    }
}
