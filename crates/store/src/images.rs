//! Images: encrypted files under the image directory, one folder per key window, with a
//! row each in `images`. Purging a window removes its folder with its key.

use std::io::Write;
use std::path::{Path, PathBuf};

use sqlx::Row;

use crate::keys::KeyRing;
use crate::{Store, StoreError, now_ms};

pub fn window_dir(image_dir: &Path, window: i64) -> PathBuf {
    image_dir.join(window.to_string())
}

pub fn image_path(image_dir: &Path, window: i64, file_name: &str) -> PathBuf {
    window_dir(image_dir, window).join(file_name)
}

fn image_aad(file_name: &str) -> Vec<u8> {
    format!("image:{file_name}").into_bytes()
}

/// An image, opened.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredImage {
    pub id: i64,
    pub camera_id: String,
    pub captured_at: i64,
    pub expires_at: i64,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Store {
    /// Seals and writes an image (durably), then records it. `retention_secs` is how long
    /// it is kept after capture.
    #[allow(clippy::too_many_arguments)]
    pub async fn store_image(
        &self,
        keys: &KeyRing,
        image_dir: &Path,
        camera_id: &str,
        captured_at: i64,
        retention_secs: i64,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        let expires_at = captured_at.saturating_add(retention_secs.saturating_mul(1000));
        let window = keys.window_for(expires_at.max(now));
        let wk = keys.get_or_create(window)?;
        let file_name = format!("{}.bin", uuid::Uuid::new_v4().simple());
        let sealed = wk.seal(&image_aad(&file_name), bytes)?;
        let dir = window_dir(image_dir, window);
        let io = |p: &Path| {
            let p = p.display().to_string();
            move |source| StoreError::Io { path: p, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(&file_name);
        {
            let mut f = std::fs::File::create_new(&path).map_err(io(&path))?;
            f.write_all(&sealed).map_err(io(&path))?;
            f.sync_all().map_err(io(&path))?;
        }
        let mut tx = self.begin().await?;
        let result = async {
            crate::reads::ensure_window(&mut tx, window, keys.window_span(window)).await?;
            let row = sqlx::query(
                "INSERT INTO images (camera_id, captured_at, expires_at, key_window, file_name, content_type, byte_len) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id",
            )
            .bind(camera_id)
            .bind(captured_at)
            .bind(expires_at)
            .bind(window)
            .bind(&file_name)
            .bind(content_type)
            .bind(bytes.len() as i64)
            .fetch_one(&mut *tx)
            .await?;
            let id: i64 = row.try_get(0)?;
            Ok::<i64, StoreError>(id)
        }
        .await;
        match result {
            Ok(id) => {
                tx.commit().await?;
                Ok(id)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Reads and opens an image; [`StoreError::Crypto`] if its window key is gone.
    pub async fn get_image(
        &self,
        keys: &KeyRing,
        image_dir: &Path,
        id: i64,
    ) -> Result<Option<StoredImage>, StoreError> {
        let row = sqlx::query(
            "SELECT id, camera_id, captured_at, expires_at, key_window, file_name, content_type FROM images WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let window: i64 = row.try_get("key_window")?;
        let file_name: String = row.try_get("file_name")?;
        let path = image_path(image_dir, window, &file_name);
        let sealed = std::fs::read(&path).map_err(|source| StoreError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let wk = keys.get(window)?.ok_or_else(|| {
            StoreError::Crypto(format!(
                "image {id}: the key of window {window} has been destroyed"
            ))
        })?;
        Ok(Some(StoredImage {
            id,
            camera_id: row.try_get("camera_id")?,
            captured_at: row.try_get("captured_at")?,
            expires_at: row.try_get("expires_at")?,
            content_type: row.try_get("content_type")?,
            bytes: wk.open(&image_aad(&file_name), &sealed)?,
        }))
    }
}
