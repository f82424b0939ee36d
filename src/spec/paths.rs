//! One way to write a path, so that paths compare equal when they name
//! the same file: the directory reader writes each file's path this way,
//! and `chain_file` references are resolved to it.

/// `path` with `/` separators, without `.` components or repeated `/`,
/// and with each `..` folded into the component before it where there is
/// one. Lexical: symlinks are not followed, which is right for a tree read
/// as data. `./repo/a.yaml` and `repo/./a.yaml` are `repo/a.yaml`;
/// `../repo/a.yaml` keeps its `..`; `/` stays at the front of an absolute
/// path; an empty result is `.`.
#[must_use]
pub fn normal(path: &str) -> String {
    let path = path.replace('\\', "/");
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // Above the root is the root.
                _ if absolute => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// `relative` resolved against the directory `file` is in, written the
/// [`normal`] way; an absolute `relative` is taken as it is.
#[must_use]
pub fn beside(file: &str, relative: &str) -> String {
    if relative.starts_with('/') {
        return normal(relative);
    }
    match normal(file).rsplit_once('/') {
        Some((dir, _)) if !dir.is_empty() => normal(&format!("{dir}/{relative}")),
        Some(_) => normal(&format!("/{relative}")),
        None => normal(relative),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_per_file() {
        let cases = [
            ("./repo/a.yaml", "repo/a.yaml"),
            ("repo/./a.yaml", "repo/a.yaml"),
            ("repo//a.yaml", "repo/a.yaml"),
            ("./a.yaml", "a.yaml"),
            ("../repo/a.yaml", "../repo/a.yaml"),
            ("../../a/../b", "../../b"),
            ("a/../../b", "../b"),
            ("/tmp/x/../repo/a.yaml", "/tmp/repo/a.yaml"),
            ("/../a", "/a"),
            (".", "."),
            ("a/..", "."),
            ("repo\\certs\\c.pem", "repo/certs/c.pem"),
        ];
        for (given, expected) in cases {
            assert_eq!(normal(given), expected, "{given}");
        }
    }

    #[test]
    fn references_resolve_beside_the_file_that_makes_them() {
        let cases = [
            ("certs/c.yaml", "c.pem", "certs/c.pem"),
            ("./repo/certs/c.yaml", "./c.pem", "repo/certs/c.pem"),
            ("./repo/certs/c.yaml", "../pem/c.pem", "repo/pem/c.pem"),
            ("../repo/certs/c.yaml", "../../x.pem", "../x.pem"),
            ("c.yaml", "c.pem", "c.pem"),
            ("c.yaml", "../c.pem", "../c.pem"),
            ("/srv/repo/c.yaml", "c.pem", "/srv/repo/c.pem"),
            ("/c.yaml", "c.pem", "/c.pem"),
            ("repo/c.yaml", "/etc/c.pem", "/etc/c.pem"),
        ];
        for (file, relative, expected) in cases {
            assert_eq!(beside(file, relative), expected, "{file} + {relative}");
        }
    }
}
