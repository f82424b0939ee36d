//! Reads a directory tree into `(path, text)` pairs for `spec::load`.

use super::ignore::{IgnoreRules, IGNORE_FILE};
use crate::spec::SourceFile;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Files larger than this are skipped: a repository of YAML has no reason
/// to hold them, and reading them would only cost memory.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

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

/// Reads every file under `root`, in sorted order, skipping `.git`, what
/// `.lbopsignore` names, and files over [`MAX_FILE_BYTES`]. Paths are
/// `root` joined with the relative path, as the user will want to see them.
/// Files that are not UTF-8 are read lossily: they are only scanned for
/// secrets, never parsed.
pub fn read_tree(root: &Path) -> Result<Vec<SourceFile>, ReadError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReadError::Io { path, source }
    };
    if !fs::metadata(root).map_err(io_err(root))?.is_dir() {
        return Err(ReadError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let rules = match fs::read_to_string(root.join(IGNORE_FILE)) {
        Ok(text) => IgnoreRules::parse(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => IgnoreRules::default(),
        Err(e) => return Err(io_err(&root.join(IGNORE_FILE))(e)),
    };
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
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
                if len > MAX_FILE_BYTES {
                    continue;
                }
                let bytes = fs::read(&path).map_err(io_err(&path))?;
                let text = String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                files.push(SourceFile::new(path.to_string_lossy().into_owned(), text));
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}
