//! The JSON report: one object whose top-level keys the sections fill. An existing report is
//! read first and only the keys written this run are replaced.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// `report.json`, being assembled.
#[derive(Debug)]
pub(crate) struct Report {
    path: PathBuf,
    root: Map<String, Value>,
}

impl Report {
    /// Start from the report at `path`, or from nothing if there is none (or it is not a JSON
    /// object, which is reported and replaced).
    pub(crate) fn open(path: &Path) -> Self {
        let root = match std::fs::read_to_string(path) {
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => map,
                _ => {
                    eprintln!(
                        "forze-bench: {} is not a JSON object; starting a new report",
                        path.display()
                    );
                    Map::new()
                }
            },
            Err(_) => Map::new(),
        };
        Report {
            path: path.to_path_buf(),
            root,
        }
    }

    /// Set (or replace) one top-level key.
    pub(crate) fn section(&mut self, name: &str, value: Value) {
        self.root.insert(name.to_owned(), value);
    }

    /// Set (or replace) `key` inside the top-level object `section`, keeping its other keys
    /// (other sections may share it, e.g. `latency`). A `section` that is not an object is
    /// replaced by one.
    pub(crate) fn merge(&mut self, section: &str, key: &str, value: Value) {
        let entry = self
            .root
            .entry(section.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(map) = entry {
            map.insert(key.to_owned(), value);
        }
    }

    /// Write the merged report, creating its directory.
    pub(crate) fn write(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(&Value::Object(self.root.clone()))
            .map_err(std::io::Error::other)?;
        std::fs::write(&self.path, text + "\n")
    }
}

/// What the numbers were measured on.
pub(crate) fn machine() -> Value {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let unix_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "cores": cores,
        "cpu": cpu,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "unix_time": unix_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_merge_into_an_existing_report() {
        let dir = std::env::temp_dir().join(format!("forze-bench-report-{}", std::process::id()));
        let path = dir.join("nested/report.json");
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("temp dir");
        std::fs::write(
            &path,
            r#"{"redis_latency": {"get_us": 42}, "hit_ratio": {"old": 1}}"#,
        )
        .expect("seed report");

        let mut report = Report::open(&path);
        report.section("hit_ratio", json!({"zipf": {"lru": 0.5}}));
        report.section("machine", machine());
        report.write().expect("write");

        let text = std::fs::read_to_string(&path).expect("read back");
        let value: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            value["redis_latency"]["get_us"], 42,
            "other sections are kept"
        );
        assert_eq!(
            value["hit_ratio"],
            json!({"zipf": {"lru": 0.5}}),
            "own keys replaced"
        );
        assert!(value["machine"]["cores"].as_u64().is_some_and(|c| c >= 1));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn merge_keeps_the_other_keys_of_a_shared_section() {
        let dir = std::env::temp_dir().join(format!("forze-bench-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("report.json");
        std::fs::write(
            &path,
            r#"{"latency": {"redis_get": {"p50_us": 80}, "l1_hit_get": {"p50_us": 9}}, "odd": 1}"#,
        )
        .expect("seed report");
        let mut report = Report::open(&path);
        report.merge(
            "latency",
            "l1_hit_get",
            json!({"p50_us": 0.2, "p99_us": 0.5}),
        );
        report.merge("odd", "k", json!(2));
        report.merge("new", "k", json!(3));
        report.write().expect("write");
        let value: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(value["latency"]["redis_get"]["p50_us"], 80, "kept");
        assert_eq!(
            value["latency"]["l1_hit_get"],
            json!({"p50_us": 0.2, "p99_us": 0.5})
        );
        assert_eq!(value["odd"], json!({"k": 2}));
        assert_eq!(value["new"], json!({"k": 3}));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn a_missing_or_broken_report_starts_fresh() {
        let dir = std::env::temp_dir().join(format!("forze-bench-fresh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("report.json");
        assert!(Report::open(&path).root.is_empty());
        std::fs::write(&path, "[1, 2]").expect("write");
        assert!(Report::open(&path).root.is_empty());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
