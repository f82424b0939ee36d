//! How much lbops reads of what a pusher controls.
//!
//! Files are read and parsed *before* anyone's identity is checked, so
//! every byte of a repository comes from someone lbops does not trust yet:
//! whoever can push a branch. Each quantity that would make reading cost
//! more time, memory or stack than the text's own size has a bound here,
//! and each bound is checked before the work it guards grows — a file's
//! size before it is read, a collection's depth before it is opened — so
//! that one hostile commit is refused quickly, with an error that names
//! the file, the line and the limit, and never stalls or crashes the
//! daemon. Pure: the readers in `source` and the YAML reader only ask.

/// The bounds on one repository's files, or on one YAML document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in one file.
    pub file_bytes: u64,
    /// Bytes in all the files of one tree (one commit, one directory).
    pub tree_bytes: u64,
    /// Files in one tree.
    pub files: usize,
    /// Values (scalars, lists, mappings, alias copies included) in one file.
    pub nodes: usize,
    /// Lists and mappings open inside each other.
    pub depth: usize,
    /// Keys in one mapping.
    pub keys: usize,
    /// Values that aliases (`*name`) copy into one file.
    pub alias_nodes: usize,
}

/// 16 MiB: ten thousand pools in one file take about 6 MiB; anything
/// bigger is not hand-written YAML (and 16 MiB was the size above which
/// files used to be skipped, so no working repository is refused).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// 128 MiB: a generated estate of 100,000 pools and 10,000 balancers takes
/// 79 MiB (see the README's Performance section); parsed, it peaks near
/// 215 MiB of heap, so a tree at the limit stays well under 1 GiB.
pub const MAX_TREE_BYTES: u64 = 128 * 1024 * 1024;
/// 50,000 files: five times the 10,000-resource estate with one file per
/// resource, while the list of paths itself stays a few MiB.
pub const MAX_FILES: usize = 50_000;
/// A million values per file (about 64 MiB as a tree): ten thousand pools
/// of ten targets take 600,000.
pub const MAX_NODES: usize = 1_000_000;
/// 64 levels. The deepest value any kind has is about 12 levels down
/// (balancer → listeners → routes → match → headers → …); the data plane's
/// JSON config adds three. The bound is what keeps every recursion over a
/// parsed tree — the derived `Drop` and `Clone` of
/// [`Node`](super::yaml::Node), serde's walk in `yaml::de` — to a few dozen
/// frames, far inside any thread's stack, whatever the input.
pub const MAX_DEPTH: usize = 64;
/// 10,000 keys per mapping. Mappings in the format are a kind's fields and
/// `labels`, so real ones hold tens of keys; the bound keeps a mapping of
/// unknown fields from turning into a flood of errors.
pub const MAX_KEYS: usize = 10_000;
/// A million values copied by aliases per file: bounds the "billion
/// laughs" blow-up of nested aliases to a fixed amount of memory.
pub const MAX_ALIAS_NODES: usize = 1_000_000;

impl Limits {
    /// For the files of a repository: anyone who can push controls them.
    pub const REPOSITORY: Self = Self {
        file_bytes: MAX_FILE_BYTES,
        tree_bytes: MAX_TREE_BYTES,
        files: MAX_FILES,
        nodes: MAX_NODES,
        depth: MAX_DEPTH,
        keys: MAX_KEYS,
        alias_nodes: MAX_ALIAS_NODES,
    };

    /// For one document that may hold a whole catalog: the data plane's
    /// config and state, which lbops writes itself and sends over an
    /// authenticated API, and the daemon's config. As deep as a repository
    /// file (depth is what guards the stack), but as large as a whole tree,
    /// with as many values and keys as that many bytes can hold.
    pub const CATALOG_DOCUMENT: Self = Self {
        file_bytes: MAX_TREE_BYTES,
        tree_bytes: MAX_TREE_BYTES,
        files: 1,
        nodes: 32 * MAX_NODES,
        depth: MAX_DEPTH,
        keys: 32 * MAX_NODES,
        alias_nodes: MAX_ALIAS_NODES,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::REPOSITORY
    }
}

/// Which bound a text went past. Its message says what was found and what
/// the limit is; [`Exceeded::hint`] says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("this file is {}, over the limit of {} per file", exact(*size), bytes(*limit))]
    FileBytes { size: u64, limit: u64 },
    #[error(
        "this file would bring the files read so far to {}, over the limit of {} per tree",
        exact(*total),
        bytes(*limit)
    )]
    TreeBytes { total: u64, limit: u64 },
    #[error("this file is one more than the limit of {limit} files per tree; it and the files after it were not read")]
    Files { limit: usize },
    #[error("this file holds more than {limit} values, the limit per file")]
    Nodes { limit: usize },
    #[error("lists and mappings are nested more than {limit} levels deep here, the limit")]
    Depth { limit: usize },
    #[error("this mapping has more than {limit} keys, the limit per mapping")]
    Keys { limit: usize },
    #[error("aliases expand this file beyond {limit} values, the limit per file")]
    AliasNodes { limit: usize },
}

impl Exceeded {
    /// What the person who wrote the file can do about it.
    #[must_use]
    pub fn hint(&self) -> &'static str {
        match self {
            Exceeded::FileBytes { .. } => {
                "split the resources across several files; a file lbops should not read at all (an archive, a binary) belongs outside the repository or in `.lbopsignore`"
            }
            Exceeded::TreeBytes { .. } | Exceeded::Files { .. } => {
                "keep only lbops' resources in this repository, or list what lbops should not read in `.lbopsignore`"
            }
            Exceeded::Nodes { .. } | Exceeded::Keys { .. } => {
                "split the resources across several files or documents"
            }
            Exceeded::Depth { .. } => {
                "nest less deeply; no kind needs more than about a dozen levels"
            }
            Exceeded::AliasNodes { .. } => {
                "write the values out instead of nesting aliases"
            }
        }
    }
}

/// `n` bytes as a person reads them, and exactly when that rounds.
fn exact(n: u64) -> String {
    if n < 1024 {
        bytes(n)
    } else {
        format!("{} ({n} bytes)", bytes(n))
    }
}

/// `n` bytes as a person reads them.
fn bytes(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else if n >= 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// What a tree has used of its [`Limits`] so far: a reader asks it before
/// reading each file, in path order, and `spec::load` asks it again, so
/// that a tree handed to `load` some other way is held to the same bounds.
/// Every file asked about counts toward the number of files; only the
/// bytes of files admitted count toward the bytes per tree.
#[derive(Clone, Debug)]
pub struct TreeBudget {
    limits: Limits,
    files: usize,
    bytes: u64,
}

impl TreeBudget {
    #[must_use]
    pub fn new(limits: &Limits) -> Self {
        Self {
            limits: *limits,
            files: 0,
            bytes: 0,
        }
    }

    /// Whether the next file, of `size` bytes, may be read. After
    /// [`Exceeded::Files`], no later file will be admitted either: a reader
    /// stops there.
    pub fn admit(&mut self, size: u64) -> Result<(), Exceeded> {
        let limits = &self.limits;
        if self.files >= limits.files {
            return Err(Exceeded::Files {
                limit: limits.files,
            });
        }
        self.files += 1;
        if size > limits.file_bytes {
            return Err(Exceeded::FileBytes {
                size,
                limit: limits.file_bytes,
            });
        }
        let total = self.bytes.saturating_add(size);
        if total > limits.tree_bytes {
            return Err(Exceeded::TreeBytes {
                total,
                limit: limits.tree_bytes,
            });
        }
        self.bytes = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_big_files_and_full_trees_and_counts_only_what_it_admits() {
        let limits = Limits {
            file_bytes: 10,
            tree_bytes: 25,
            files: 5,
            ..Limits::REPOSITORY
        };
        let mut budget = TreeBudget::new(&limits);
        assert_eq!(budget.admit(10), Ok(()));
        assert_eq!(
            budget.admit(11),
            Err(Exceeded::FileBytes {
                size: 11,
                limit: 10
            })
        );
        assert_eq!(budget.admit(10), Ok(()));
        assert_eq!(
            budget.admit(6),
            Err(Exceeded::TreeBytes {
                total: 26,
                limit: 25
            })
        );
        assert_eq!(budget.admit(5), Ok(()), "refused files used no bytes");
        assert_eq!(
            budget.admit(0),
            Err(Exceeded::Files { limit: 5 }),
            "every file counts"
        );
        assert_eq!(budget.admit(0), Err(Exceeded::Files { limit: 5 }));
    }

    /// Every message, for a person to review the wording.
    #[test]
    fn messages_name_the_size_and_the_limit() {
        let all = [
            Exceeded::FileBytes {
                size: 17 * 1024 * 1024 + 5,
                limit: MAX_FILE_BYTES,
            },
            Exceeded::TreeBytes {
                total: 200 * 1024 * 1024,
                limit: MAX_TREE_BYTES,
            },
            Exceeded::Files { limit: MAX_FILES },
            Exceeded::Nodes { limit: MAX_NODES },
            Exceeded::Depth { limit: MAX_DEPTH },
            Exceeded::Keys { limit: MAX_KEYS },
            Exceeded::AliasNodes {
                limit: MAX_ALIAS_NODES,
            },
        ];
        let shown: Vec<String> = all.iter().map(|e| format!("{e}; {}", e.hint())).collect();
        assert_eq!(
            shown[0],
            "this file is 17.0 MiB (17825797 bytes), over the limit of 16 MiB per file; split the resources across several files; a file lbops should not read at all (an archive, a binary) belongs outside the repository or in `.lbopsignore`"
        );
        assert_eq!(
            shown[4],
            "lists and mappings are nested more than 64 levels deep here, the limit; nest less deeply; no kind needs more than about a dozen levels"
        );
        for line in &shown {
            println!("{line}");
        }
    }
}
