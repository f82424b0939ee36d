//! `lbops validate` as a user runs it: the real binary on a copy of the
//! example repository, one mutation per class of mistake, asserting the
//! exit code and the exact `file:line:column` and message shown.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of `examples/repo` in a temporary directory, at `<tmp>/repo`.
struct Repo {
    tmp: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Repo {
    fn example() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/repo"),
            &tmp.path().join("repo"),
        );
        Self { tmp }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.tmp.path().join("repo").join(file)
    }

    /// Replaces the one occurrence of `from` in `file` with `to`.
    fn edit(&self, file: &str, from: &str, to: &str) -> &Self {
        let path = self.path(file);
        let text = fs::read_to_string(&path).expect("file exists");
        assert_eq!(
            text.matches(from).count(),
            1,
            "{from:?} must occur once in {file}"
        );
        fs::write(&path, text.replacen(from, to, 1)).expect("write");
        self
    }

    fn write(&self, file: &str, text: &str) -> &Self {
        let path = self.path(file);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(path, text).expect("write");
        self
    }

    fn validate(&self, extra: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_lbops"))
            .current_dir(self.tmp.path())
            .args(["validate", "repo"])
            .args(extra)
            .output()
            .expect("run lbops");
        Run {
            code: output.status.code().expect("exited"),
            stdout: String::from_utf8(output.stdout).expect("utf-8"),
            stderr: String::from_utf8(output.stderr).expect("utf-8"),
        }
    }

    /// Validates in text and JSON, asserts exit status 1 and that the only
    /// problem is `expected` (`file:line:column: severity[code] id: message`),
    /// the same in both outputs.
    fn expect_only(&self, expected: &str) {
        let text = self.validate(&[]);
        assert_eq!(
            text.code, 1,
            "stdout:\n{}\nstderr:\n{}",
            text.stdout, text.stderr
        );
        let first_lines: Vec<&str> = text
            .stdout
            .lines()
            .filter(|l| !l.starts_with("  hint: "))
            .collect();
        assert_eq!(
            first_lines.len(),
            2,
            "exactly one problem and a summary:\n{}",
            text.stdout
        );
        assert_eq!(first_lines[0], expected);
        assert!(
            text.stdout.contains("\n  hint: "),
            "every problem has a hint:\n{}",
            text.stdout
        );

        let json = self.validate(&["--output", "json"]);
        assert_eq!(json.code, 1);
        let problems: Vec<Value> = serde_json::from_str(&json.stdout).expect("JSON output");
        assert_eq!(problems.len(), 1, "{}", json.stdout);
        assert_eq!(render_json(&problems[0]), expected);
    }
}

/// Renders a JSON problem the way the text output does, to compare both.
fn render_json(p: &Value) -> String {
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
    let id = match (p["kind"].as_str(), p["name"].as_str()) {
        (Some(kind), Some(name)) => format!(" {}/{name}", kind.to_lowercase()),
        _ => String::new(),
    };
    for key in [
        "file", "line", "column", "kind", "name", "code", "message", "hint", "severity",
    ] {
        assert!(p.get(key).is_some(), "JSON problem lacks `{key}`: {p}");
    }
    format!(
        "{}:{}:{}: {}[{}]{id}: {}",
        s("file"),
        p["line"],
        p["column"],
        s("severity"),
        s("code"),
        s("message")
    )
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn the_example_repository_is_valid() {
    let run = Repo::example().validate(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "repo: valid, 16 resources, 0 warning(s)\n");
    let json = Repo::example().validate(&["--output", "json"]);
    assert_eq!((json.code, json.stdout.trim()), (0, "[]"));
}
