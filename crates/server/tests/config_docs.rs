//! Every TOML example in `docs/` parses as what it documents (issue 26): a server
//! configuration (`candor.toml`) or a piece of the policy document. And the documented
//! `[[webhooks]]` tables can be appended, as they are, to the file `candor init` writes.

use candor_policy::PolicyDocument;
use candor_server::Config;

/// Each ```toml block in the docs: (file, line, text).
fn toml_blocks() -> Vec<(String, usize, String)> {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.push(docs.join("../README.md"));
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut block: Option<(usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            match (&mut block, line.trim_start()) {
                (None, l) if l.starts_with("```toml") => block = Some((i + 1, String::new())),
                (Some(_), l) if l.starts_with("```") => {
                    let (at, body) = block.take().unwrap();
                    out.push((path.display().to_string(), at, body));
                }
                (Some((_, body)), _) => {
                    body.push_str(line);
                    body.push('\n');
                }
                (None, _) => {}
            }
        }
    }
    out
}

fn keys(v: &toml::Table) -> Vec<String> {
    v.keys().cloned().collect()
}

/// Sets every key of `over` into `base`, tables merged key by key.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[test]
fn every_toml_example_in_the_docs_parses() {
    let blocks = toml_blocks();
    assert!(blocks.len() >= 2, "found the examples: {blocks:?}");
    let config_keys = {
        let mut t: toml::Table =
            toml::from_str(&toml::to_string(&Config::default()).unwrap()).unwrap();
        t.insert("webhooks".into(), toml::Value::Array(vec![]));
        t.insert(
            "outbound_ca_file".into(),
            toml::Value::String(String::new()),
        );
        keys(&t)
    };
    let policy_default: toml::Table =
        toml::from_str(&PolicyDocument::default_for_new_agency().to_toml()).unwrap();
    let initial = candor_server::datadir::initial_config_text(&Config::default()).unwrap();
    let mut appended_webhooks = 0;
    for (file, line, text) in blocks {
        let table: toml::Table = toml::from_str(&text)
            .unwrap_or_else(|e| panic!("{file}:{line}: the example is not TOML: {e}"));
        if keys(&table).iter().all(|k| config_keys.contains(k)) {
            let config: Config = toml::from_str(&text)
                .unwrap_or_else(|e| panic!("{file}:{line}: not a valid candor.toml: {e}"));
            config
                .validate()
                .unwrap_or_else(|e| panic!("{file}:{line}: candor.toml refused: {e}"));
            // Tables users add ([[webhooks]]) go at the end of the file init wrote.
            if let Some(start) = text.find("[[webhooks]]") {
                let added = format!("{initial}\n{}", &text[start..]);
                let config: Config = toml::from_str(&added).unwrap_or_else(|e| {
                    panic!("{file}:{line}: the [[webhooks]] example, appended to the file init writes, fails: {e}")
                });
                config.validate().unwrap();
                assert_eq!(config.webhooks.len(), 1, "{file}:{line}");
                appended_webhooks += 1;
            }
        } else if keys(&table).iter().all(|k| policy_default.contains_key(k)) {
            let mut doc = policy_default.clone();
            merge(&mut doc, table);
            let text = toml::to_string(&doc).unwrap();
            let policy = PolicyDocument::from_toml(&text)
                .unwrap_or_else(|e| panic!("{file}:{line}: not a valid policy piece: {e}"));
            policy.validate().unwrap();
        } else {
            panic!(
                "{file}:{line}: a TOML example that is neither candor.toml nor the policy document"
            );
        }
    }
    assert!(
        appended_webhooks >= 1,
        "the [[webhooks]] example is checked"
    );
}

#[test]
fn the_file_init_writes_has_no_webhooks_key_to_collide_with() {
    let initial = candor_server::datadir::initial_config_text(&Config::default()).unwrap();
    assert!(!initial.contains("webhooks"), "{initial}");
    let config: Config = toml::from_str(&initial).unwrap();
    config.validate().unwrap();
}
