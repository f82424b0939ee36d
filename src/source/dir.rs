//! Reads a directory tree into `(path, text)` pairs for `spec::load`.

use super::ignore::{IgnoreRules, IGNORE_FILE};
use crate::spec::{paths, Exceeded, Limits, SourceFile, TreeBudget};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a directory; give the root of the repository")]
    NotADirectory { path: PathBuf },
}

/// [`read_tree_within`] the limits for a repository.
pub fn read_tree(root: &Path) -> Result<Vec<SourceFile>, ReadError> {
    read_tree_within(root, &Limits::REPOSITORY)
}

/// Reads every file under `root`, sorted by path, skipping `.git` and what
/// `.lbopsignore` names. Paths are `root` joined with the relative path, as
/// the user will want to see them, written the one way `spec` compares
/// paths ([`paths::normal`]: `./repo/a.yaml` is `repo/a.yaml`).
///
/// Sizes are checked before contents are read, in path order, against
/// `limits` (bytes per file and per tree, number of files): a file past a
/// bound is returned unread, as [`SourceFile::refused`], so that `load`
/// reports it; after the file that passes the number of files, listing
/// stops. Files that are not UTF-8 are read lossily: they are only scanned
/// for secrets, never parsed.
pub fn read_tree_within(root: &Path, limits: &Limits) -> Result<Vec<SourceFile>, ReadError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReadError::Io { path, source }
    };
    if !fs::metadata(root).map_err(io_err(root))?.is_dir() {
        return Err(ReadError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let ignore_file = root.join(IGNORE_FILE);
    let rules = match fs::metadata(&ignore_file) {
        // An ignore file past the limit ignores nothing; it is refused
        // below like any other file.
        Ok(meta) if meta.len() > limits.file_bytes => IgnoreRules::default(),
        Ok(_) => {
            IgnoreRules::parse(&fs::read_to_string(&ignore_file).map_err(io_err(&ignore_file))?)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => IgnoreRules::default(),
        Err(e) => return Err(io_err(&ignore_file)(e)),
    };
    // First the paths and sizes, at most one file past the limit…
    let mut listed: Vec<(String, PathBuf, u64)> = Vec::new();
    let mut pending = vec![PathBuf::new()];
    'walk: while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let mut entries = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io_err(&dir))?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            let rel = relative.join(&name);
            let rel_text = rel.to_string_lossy().replace('\\', "/");
            let file_type = entry.file_type().map_err(io_err(&entry.path()))?;
            if name == ".git" || rules.is_ignored(&rel_text, file_type.is_dir()) {
                continue;
            }
            if file_type.is_dir() {
                pending.push(rel);
            } else if file_type.is_file() {
                let path = entry.path();
                let len = entry.metadata().map_err(io_err(&path))?.len();
                let shown = paths::normal(&path.to_string_lossy());
                listed.push((shown, path, len));
                if listed.len() > limits.files {
                    break 'walk;
                }
            }
        }
    }
    // …then the contents, in the order `load` will see them.
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut budget = TreeBudget::new(limits);
    let mut files = Vec::with_capacity(listed.len());
    for (shown, path, len) in listed {
        match budget.admit(len) {
            Ok(()) => {
                // At most one byte more than the limit, should the file
                // have grown since its size was read.
                let mut bytes = Vec::new();
                fs::File::open(&path)
                    .and_then(|f| {
                        f.take(limits.file_bytes.saturating_add(1))
                            .read_to_end(&mut bytes)
                    })
                    .map_err(io_err(&path))?;
                let size = bytes.len() as u64;
                if size > limits.file_bytes {
                    let why = Exceeded::FileBytes {
                        size,
                        limit: limits.file_bytes,
                    };
                    files.push(SourceFile::refused(shown, why));
                    continue;
                }
                let text = String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                files.push(SourceFile::new(shown, text));
            }
            Err(why) => {
                let last = matches!(why, Exceeded::Files { .. });
                files.push(SourceFile::refused(shown, why));
                if last {
                    break;
                }
            }
        }
    }
    Ok(files)
}
