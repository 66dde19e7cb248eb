//! Fast tier: keeps the test tiers honest. A test file that starts the real binary belongs to
//! the slow tier, which means a `[[test]]` entry in `Cargo.toml` with
//! `required-features = ["slow-tests"]`; without it, plain `cargo test` would start daemons,
//! language servers and GiB transfers.

use std::collections::BTreeSet;
use std::path::Path;

/// The `[[test]]` names that require the `slow-tests` feature, read from the manifest.
fn slow_test_names(manifest: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for block in manifest.split("[[test]]").skip(1) {
        let block = block.split("\n[").next().unwrap_or_default();
        let name = block.lines().find_map(|line| {
            let value = line.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_owned())
        });
        let slow = block
            .lines()
            .any(|line| line.trim().starts_with("required-features") && line.contains("\"slow-tests\""));
        if let (Some(name), true) = (name, slow) {
            names.insert(name);
        }
    }
    names
}

/// Whether a test file starts the daemon or other real processes through the shared harness.
fn starts_the_binary(source: &str) -> bool {
    // Spelled in pieces so this file does not match itself.
    let needles =
        [concat!("Daemon", "::spawn"), concat!("CARGO_BIN_EXE", "_toolboxd"), concat!("mod ", "common;")];
    needles.iter().any(|needle| source.contains(needle))
}

#[test]
fn every_test_file_that_starts_the_binary_is_in_the_slow_tier() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let slow = slow_test_names(&manifest);
    assert!(!slow.is_empty(), "no slow-tier [[test]] entries found in Cargo.toml");

    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("tests")).expect("tests/") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let source = std::fs::read_to_string(&path).expect("test source");
            if starts_the_binary(&source) {
                assert!(
                    slow.contains(&name),
                    "tests/{name}.rs starts the real binary: add to Cargo.toml\n\n[[test]]\nname = \"{name}\"\nrequired-features = [\"slow-tests\"]\n"
                );
            }
            files.insert(name);
        }
    }
    for name in &slow {
        assert!(
            files.contains(name),
            "Cargo.toml lists the slow test {name}, but tests/{name}.rs does not exist"
        );
    }
}

#[test]
fn the_manifest_reader_sees_entries_and_their_features() {
    let manifest = "[[test]]\nname = \"a\"\nrequired-features = [\"slow-tests\"]\n\n[[test]]\nname = \"b\"\n\n[profile.dev]\n";
    assert_eq!(slow_test_names(manifest), BTreeSet::from(["a".to_owned()]));
}
