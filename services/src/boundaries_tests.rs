//! The rule between crates (ARCHITECTURE.md, "Rules between crates"), checked
//! on the workspace's real manifests: a domain crate depends on `platform`,
//! `model` and the `probe` capability only, never on another domain, so a
//! change in one domain never rebuilds another; `platform` and `probe` stand
//! on `model` alone.

use std::collections::{BTreeMap, BTreeSet};

/// Which workspace crates each crate under `crates/` may depend on (normal
/// and dev dependencies alike).
const ALLOWED: &[(&str, &[&str])] = &[
    ("platform", &["model"]),
    ("probe", &["model"]),
    ("auth", &["platform", "model"]),
    ("atlas", &["platform", "model"]),
    ("firewall", &["platform", "model"]),
    ("checklist", &["platform", "model", "probe"]),
    ("health", &["platform", "model", "probe"]),
];

/// Every workspace package under `crates/` and the workspace packages it names.
fn workspace_deps() -> BTreeMap<String, BTreeSet<String>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let ours: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    packages
        .iter()
        .filter(|p| {
            p["manifest_path"]
                .as_str()
                .is_some_and(|m| m.contains("/crates/"))
        })
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter_map(|d| d["name"].as_str())
                .filter(|d| ours.contains(*d))
                .map(str::to_owned)
                .collect();
            (p["name"].as_str().expect("name").to_owned(), deps)
        })
        .collect()
}

#[test]
fn domain_crates_depend_only_on_platform_model_and_probe() {
    let deps = workspace_deps();
    let listed: BTreeSet<&str> = ALLOWED.iter().map(|(c, _)| *c).collect();
    let found: BTreeSet<&str> = deps.keys().map(String::as_str).collect();
    assert_eq!(
        listed, found,
        "every crate under crates/ has its rule here, and only those"
    );
    for (krate, allowed) in ALLOWED {
        let extra: Vec<&String> = deps[*krate]
            .iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "{krate} depends on {extra:?}: a domain crate reaches another only through platform's types"
        );
    }
}
