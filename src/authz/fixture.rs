//! The example repository as test input, and edits to it as a commit
//! would make them.

use crate::spec::{load, Catalog, Options, SourceFile};

/// 2026-11-26, after the example chain starts.
const NOW: i64 = 1_795_651_200;

macro_rules! example {
    ($($path:literal),* $(,)?) => {
        [$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/repo/", $path)))),*]
    };
}

/// The example repository's files (drafts left out, as `.lbopsignore` does).
pub(super) fn files() -> Vec<SourceFile> {
    example![
        "access/groups.yaml",
        "access/roles.yaml",
        "access/service-accounts.yaml",
        "access/users.yaml",
        "addresspools/loopback.yaml",
        "balancers/db.yaml",
        "balancers/web.yaml",
        "certificates/wildcard-example-test.pem",
        "certificates/wildcard-example-test.yaml",
        "pools/db.yaml",
        "pools/web.yaml",
    ]
    .into_iter()
    .map(|(path, text)| SourceFile::new(path, text))
    .collect()
}

pub(super) fn catalog(files: &[SourceFile]) -> Catalog {
    match load(files, &Options::at(NOW)) {
        Ok(validated) => validated.catalog,
        Err(invalid) => panic!("test repository is invalid: {:#?}", invalid.diagnostics),
    }
}

/// The example repository as trusted.
pub(super) fn trusted() -> Catalog {
    catalog(&files())
}

/// The example repository with `from` replaced by `to` in the file at `path`.
///
/// # Panics
///
/// When `from` does not occur exactly once: the test would test nothing.
pub(super) fn edited(edits: &[(&str, &str, &str)]) -> Catalog {
    let mut files = files();
    for (path, from, to) in edits {
        let file = files
            .iter_mut()
            .find(|f| f.path == *path)
            .unwrap_or_else(|| panic!("no file {path}"));
        assert_eq!(file.text.matches(from).count(), 1, "`{from}` in {path}");
        file.text = file.text.replacen(from, to, 1);
    }
    catalog(&files)
}

/// The example repository with one more file.
pub(super) fn added(path: &str, text: &str) -> Catalog {
    let mut files = files();
    files.push(SourceFile::new(path, text));
    catalog(&files)
}
