//! The module map in `src/lib.rs` holds: every `crate::` path (and every
//! `super::` path that leaves its top-level module) in the library's
//! sources goes in a direction the map allows, and the map itself has no
//! cycle. So an import cycle between top-level modules cannot come back
//! without someone changing the map, where a reviewer sees it.
//!
//! The map is read from `src/lib.rs`'s module documentation (the ```text
//! block under "# Module map"), not copied here: there is one table.
//!
//! The scan reads tokens, not lines: comments, strings and character
//! literals are skipped, `crate::{a, b::c}` groups count each member, and
//! a module's tests (`#[cfg(test)] mod tests { … }` or
//! `#[cfg(test)] mod tests;` and every file under it) are exempt. It needs
//! no compiler and runs in milliseconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What one module may use.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    Any,
    Only(BTreeSet<String>),
}

/// The allowed directions: each top-level module, and what it may use.
type Map = BTreeMap<String, Allowed>;

/// Reads the map from the ```text block under `# Module map` in `lib_rs`'s
/// `//!` documentation: one `module: used used …` line per module, `#`
/// to the end of a line a comment.
fn parse_map(lib_rs: &str) -> Result<Map, String> {
    let doc: Vec<&str> = lib_rs
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("//!"))
        .map(str::trim)
        .collect();
    let heading = doc
        .iter()
        .position(|line| *line == "# Module map")
        .ok_or("src/lib.rs has no `# Module map` section in its documentation")?;
    let start = doc[heading..]
        .iter()
        .position(|line| *line == "```text")
        .map(|i| heading + i + 1)
        .ok_or("the module map has no ```text block")?;
    let end = doc[start..]
        .iter()
        .position(|line| *line == "```")
        .map(|i| start + i)
        .ok_or("the module map's ```text block is not closed")?;
    let mut map = Map::new();
    for line in &doc[start..end] {
        // `#` starts a comment: why an arrow is there, or which issue
        // removes it.
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let (module, used) = line
            .split_once(':')
            .ok_or_else(|| format!("module map line `{line}` is not `module: used …`"))?;
        let module = module.trim().to_owned();
        let used: Vec<&str> = used.split_whitespace().collect();
        let allowed = if used == ["*"] {
            Allowed::Any
        } else if used.contains(&"*") {
            return Err(format!("`{module}`: `*` stands alone on its line"));
        } else {
            Allowed::Only(used.iter().map(|u| (*u).to_owned()).collect())
        };
        if map.insert(module.clone(), allowed).is_some() {
            return Err(format!("`{module}` is in the module map twice"));
        }
    }
    Ok(map)
}

/// Problems with the map itself: a module declared in `lib.rs` it does
/// not list, one it lists that does not exist, and cycles.
fn check_map(map: &Map, declared: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for module in declared.difference(&map.keys().cloned().collect()) {
        problems.push(format!(
            "`{module}` is declared in src/lib.rs but missing from its module map: add a line saying what it may use"
        ));
    }
    for (module, allowed) in map {
        if !declared.contains(module) {
            problems.push(format!(
                "the module map lists `{module}`, which src/lib.rs does not declare"
            ));
        }
        if let Allowed::Only(used) = allowed {
            for u in used {
                if !map.contains_key(u) {
                    problems.push(format!("`{module}` may use `{u}`, which is not in the map"));
                } else if u == module {
                    problems.push(format!("`{module}` lists itself"));
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(map) {
        problems.push(format!(
            "the module map has a cycle: {}; one of these arrows must go",
            cycle.join(" -> ")
        ));
    }
    problems
}

fn edges<'a>(map: &'a Map, module: &str) -> Vec<&'a str> {
    match map.get(module) {
        Some(Allowed::Any) => map
            .keys()
            .map(String::as_str)
            .filter(|m| *m != module)
            .collect(),
        Some(Allowed::Only(used)) => used
            .iter()
            .map(String::as_str)
            .filter(|u| map.contains_key(*u))
            .collect(),
        None => Vec::new(),
    }
}

/// A cycle among the map's arrows, as the modules along it, first again
/// at the end.
fn find_cycle(map: &Map) -> Option<Vec<String>> {
    fn visit<'a>(
        map: &'a Map,
        module: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| *m == module) {
            let mut cycle: Vec<String> = path[at..].iter().map(|m| (*m).to_owned()).collect();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module);
        for next in edges(map, module) {
            if let Some(cycle) = visit(map, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module);
        None
    }
    let mut done = BTreeSet::new();
    map.keys()
        .find_map(|module| visit(map, module, &mut Vec::new(), &mut done))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(char),
}

/// The tokens of Rust source that matter here, each with its line:
/// identifiers and punctuation. Comments, string, byte-string, raw-string
/// and character literals, lifetimes and numbers are dropped.
fn tokens(text: &str) -> Vec<(Tok, usize)> {
    let s: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let ident_start = |c: char| c.is_alphabetic() || c == '_';
    let ident_char = |c: char| c.is_alphanumeric() || c == '_';
    // Skips from `s[from]` to just past the `"` that closes a quoted
    // string (with `\` escapes), counting lines; returns the index after.
    let skip_string = |from: usize, line: &mut usize| {
        let mut j = from;
        while j < s.len() && s[j] != '"' {
            if s[j] == '\\' {
                j += 1;
            }
            if s.get(j) == Some(&'\n') {
                *line += 1;
            }
            j += 1;
        }
        j + 1
    };
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if s[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(i + 1, &mut line);
        } else if c == '\'' {
            if next == Some('\\') {
                // An escaped character: '\n', '\'', '\u{…}'.
                let mut j = i + 3;
                while j < s.len() && s[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if s.get(i + 2) == Some(&'\'') {
                i += 3; // 'x'
            } else {
                i += 1; // a lifetime: its name follows as an identifier
            }
        } else if c.is_ascii_digit() {
            while i < s.len() && ident_char(s[i]) {
                i += 1;
            }
        } else if ident_start(c) {
            let start = i;
            while i < s.len() && ident_char(s[i]) {
                i += 1;
            }
            let word: String = s[start..i].iter().collect();
            let at = s.get(i).copied();
            match (word.as_str(), at) {
                ("r" | "br" | "cr", Some('#' | '"'))
                    if s[i..].iter().find(|c| **c != '#') == Some(&'"') =>
                {
                    let hashes = s[i..].iter().take_while(|c| **c == '#').count();
                    let mut j = i + hashes + 1;
                    loop {
                        if j >= s.len() {
                            break;
                        }
                        if s[j] == '\n' {
                            line += 1;
                        }
                        if s[j] == '"'
                            && s[j + 1..]
                                .iter()
                                .take(hashes)
                                .filter(|c| **c == '#')
                                .count()
                                == hashes
                        {
                            j += 1 + hashes;
                            break;
                        }
                        j += 1;
                    }
                    i = j;
                }
                ("r", Some('#')) => {} // a raw identifier: `#` then the name
                ("b" | "c", Some('"')) => i = skip_string(i + 1, &mut line),
                ("b", Some('\'')) => {} // a byte: the quote comes next
                _ => out.push((Tok::Ident(word), line)),
            }
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn is_ident(toks: &[(Tok, usize)], i: usize, word: &str) -> bool {
    matches!(toks.get(i), Some((Tok::Ident(w), _)) if w == word)
}

fn is_punct(toks: &[(Tok, usize)], i: usize, c: char) -> bool {
    matches!(toks.get(i), Some((Tok::Punct(p), _)) if *p == c)
}

fn is_path_sep(toks: &[(Tok, usize)], i: usize) -> bool {
    is_punct(toks, i, ':') && is_punct(toks, i + 1, ':')
}

/// The index just past the bracket group opening at `open` (`(`, `[` or
/// `{`), or the end.
fn past_group(toks: &[(Tok, usize)], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, (tok, _)) in toks.iter().enumerate().skip(open) {
        match tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// The first segment a path continues with at `at` (after its `crate::`
/// or root-reaching `super::`): one name, each member of a `{…}` group, or
/// `*` for a glob. `self` in a group names the root itself, so it is none.
fn first_segments(toks: &[(Tok, usize)], at: usize) -> Vec<String> {
    match toks.get(at) {
        Some((Tok::Ident(name), _)) => vec![name.clone()],
        Some((Tok::Punct('*'), _)) => vec!["*".to_owned()],
        Some((Tok::Punct('{'), _)) => {
            let end = past_group(toks, at);
            let mut out = Vec::new();
            let mut depth = 0;
            let mut item_start = true;
            for (tok, _) in &toks[at + 1..end.saturating_sub(1)] {
                match tok {
                    Tok::Punct('{' | '(' | '[') => depth += 1,
                    Tok::Punct('}' | ')' | ']') => depth -= 1,
                    Tok::Punct(',') if depth == 0 => {
                        item_start = true;
                        continue;
                    }
                    Tok::Ident(name) if item_start && depth == 0 && name != "self" => {
                        out.push(name.clone());
                    }
                    Tok::Punct('*') if item_start && depth == 0 => out.push("*".to_owned()),
                    _ => {}
                }
                item_start = false;
            }
            out
        }
        _ => Vec::new(),
    }
}

/// One file of the library as the scan sees it.
#[derive(Debug, Default)]
struct Scanned {
    /// Top-level modules this file's non-test code reaches, with lines.
    uses: Vec<(String, usize)>,
    /// `#[cfg(test)] mod name;` declarations: child files that are tests.
    test_children: Vec<String>,
    /// `mod name;` declarations at the top of the file (for `lib.rs`).
    declared: Vec<String>,
}

/// Scans one file whose module is `depth` levels below the crate root
/// (`spec/mod.rs` and `spec.rs` are 1, `spec/yaml/de.rs` is 3); `in_test`
/// when the whole file is test code.
fn scan(text: &str, depth: usize, in_test: bool) -> Scanned {
    let toks = tokens(text);
    let mut out = Scanned::default();
    // One entry per open `{`: whether it opens a module, and whether that
    // module is test code.
    let mut open: Vec<(bool, bool)> = Vec::new();
    let mut cfg_test = false;
    let mut i = 0;
    while i < toks.len() {
        let here_test = in_test || open.iter().any(|(_, test)| *test);
        let here_depth = depth + open.iter().filter(|(module, _)| *module).count();
        if is_punct(&toks, i, '#') && is_punct(&toks, i + 1, '[') {
            let end = past_group(&toks, i + 1);
            let attr: Vec<&Tok> = toks[i + 2..end - 1].iter().map(|(t, _)| t).collect();
            cfg_test |= attr
                == [
                    &Tok::Ident("cfg".into()),
                    &Tok::Punct('('),
                    &Tok::Ident("test".into()),
                    &Tok::Punct(')'),
                ];
            i = end;
            continue;
        }
        if is_ident(&toks, i, "pub") {
            i += 1;
            if is_punct(&toks, i, '(') {
                i = past_group(&toks, i);
            }
            continue;
        }
        if is_ident(&toks, i, "mod") {
            if let Some((Tok::Ident(name), _)) = toks.get(i + 1) {
                if is_punct(&toks, i + 2, '{') {
                    open.push((true, cfg_test));
                    cfg_test = false;
                    i += 3;
                    continue;
                }
                if is_punct(&toks, i + 2, ';') {
                    if cfg_test {
                        out.test_children.push(name.clone());
                    } else if open.is_empty() {
                        out.declared.push(name.clone());
                    }
                }
            }
        }
        cfg_test = false;
        match &toks[i].0 {
            Tok::Punct('{') => open.push((false, false)),
            Tok::Punct('}') => {
                open.pop();
            }
            Tok::Ident(word) if word == "crate" && is_path_sep(&toks, i + 1) && !here_test => {
                let line = toks[i].1;
                for module in first_segments(&toks, i + 3) {
                    out.uses.push((module, line));
                }
            }
            Tok::Ident(word) if word == "super" && !(i >= 2 && is_path_sep(&toks, i - 2)) => {
                let mut supers = 0;
                let mut j = i;
                while is_ident(&toks, j, "super") && is_path_sep(&toks, j + 1) {
                    supers += 1;
                    j += 3;
                }
                if supers > 0 && supers >= here_depth && !here_test {
                    for module in first_segments(&toks, j) {
                        out.uses.push((module, toks[i].1));
                    }
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The module `path` (relative to `src/`, `/`-separated) belongs to, and
/// how deep it is: `plan/apply.rs` is `plan` at 2.
fn module_of(path: &str) -> (String, usize) {
    let parts: Vec<&str> = path.split('/').collect();
    let top = parts[0].strip_suffix(".rs").unwrap_or(parts[0]).to_owned();
    let depth = if parts.last() == Some(&"mod.rs") {
        parts.len() - 1
    } else {
        parts.len()
    };
    (top, depth)
}

/// The file paths a `#[cfg(test)] mod name;` in `path` stands for, as
/// prefixes: `name.rs`, and everything under `name/`.
fn test_prefixes(path: &str, name: &str) -> [String; 2] {
    let dir = match path.rsplit_once('/') {
        Some((dir, "mod.rs")) => format!("{dir}/"),
        Some((dir, file)) => format!("{dir}/{}/", file.trim_end_matches(".rs")),
        None => format!("{}/", path.trim_end_matches(".rs")),
    };
    [format!("{dir}{name}.rs"), format!("{dir}{name}/")]
}

/// Every import in `files` (paths relative to `src/`, without the crate
/// roots) that `map` does not allow, as `path:line: message`.
fn violations(map: &Map, files: &BTreeMap<String, String>) -> Vec<String> {
    let mut test_prefixes_seen: Vec<String> = Vec::new();
    let mut scanned = BTreeMap::new();
    // Parents come before their children in path order only sometimes
    // (`a.rs` sorts after `a/`), so find every test module first.
    for (path, text) in files {
        let (_, depth) = module_of(path);
        let found = scan(text, depth, false);
        for name in &found.test_children {
            test_prefixes_seen.extend(test_prefixes(path, name));
        }
    }
    for (path, text) in files {
        let in_test = test_prefixes_seen
            .iter()
            .any(|p| path.starts_with(p.as_str()));
        let (_, depth) = module_of(path);
        scanned.insert(path, scan(text, depth, in_test));
    }
    let mut out = Vec::new();
    for (path, found) in scanned {
        let (module, _) = module_of(path);
        let Some(allowed) = map.get(&module) else {
            out.push(format!(
                "src/{path}: module `{module}` is not in the module map in src/lib.rs"
            ));
            continue;
        };
        for (used, line) in found.uses {
            if used == module {
                continue;
            }
            let ok = map.contains_key(&used)
                && match allowed {
                    Allowed::Any => true,
                    Allowed::Only(set) => set.contains(&used),
                };
            if !ok && !map.contains_key(&used) {
                out.push(format!(
                    "src/{path}:{line}: `{module}` uses `crate::{used}`, which is not a module in the module map in src/lib.rs"
                ));
            } else if !ok {
                let may = match allowed {
                    Allowed::Any => "any module".to_owned(),
                    Allowed::Only(set) if set.is_empty() => "no other module".to_owned(),
                    Allowed::Only(set) => set.iter().cloned().collect::<Vec<_>>().join(", "),
                };
                out.push(format!(
                    "src/{path}:{line}: `{module}` uses `crate::{used}`, but the module map in src/lib.rs lets `{module}` use only: {may}"
                ));
            }
        }
    }
    out
}

/// The library's sources, relative to `src/`, without the crate roots
/// and without the binary's own modules (those `main.rs` declares).
fn library_sources(src: &Path) -> BTreeMap<String, String> {
    let main = std::fs::read_to_string(src.join("main.rs")).unwrap_or_default();
    let binary: Vec<String> = scan(&main, 0, false).declared;
    let mut files = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("src/ is readable").path();
            let rel = path
                .strip_prefix(src)
                .expect("under src/")
                .to_string_lossy()
                .replace('\\', "/");
            let top = rel.split('/').next().unwrap_or_default();
            if binary.iter().any(|m| top == m || top == format!("{m}.rs")) {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if rel.ends_with(".rs") && rel != "lib.rs" && rel != "main.rs" {
                let text = std::fs::read_to_string(&path).expect("source is readable");
                files.insert(rel, text);
            }
        }
    }
    files
}

#[test]
fn the_library_imports_only_in_the_directions_its_module_map_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let map = parse_map(&lib_rs).unwrap_or_else(|e| panic!("{e}"));
    let declared: BTreeSet<String> = scan(&lib_rs, 0, false).declared.into_iter().collect();
    assert!(declared.contains("spec"), "lib.rs declares its modules");
    let mut problems = check_map(&map, &declared);
    let files = library_sources(&src);
    assert!(files.len() > 100, "the scan found the sources");
    problems.extend(violations(&map, &files));
    assert!(
        problems.is_empty(),
        "the module map in src/lib.rs does not hold:\n{}",
        problems.join("\n")
    );
}

fn synthetic_map() -> Map {
    parse_map(
        "//! # Module map\n\
         //!\n\
         //! ```text\n\
         //! base:\n\
         //! mid:  base   # a comment\n\
         //! top:  *\n\
         //! ```\n",
    )
    .unwrap()
}

fn files(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(path, text)| ((*path).to_owned(), (*text).to_owned()))
        .collect()
}

#[test]
fn the_map_is_read_from_the_documentation() {
    let map = synthetic_map();
    assert_eq!(map["base"], Allowed::Only(BTreeSet::new()));
    assert_eq!(map["mid"], Allowed::Only(["base".to_owned()].into()));
    assert_eq!(map["top"], Allowed::Any);
    let declared = ["base", "mid", "top"].map(str::to_owned).into();
    assert_eq!(check_map(&map, &declared), Vec::<String>::new());
}

#[test]
fn a_forbidden_import_that_closes_a_cycle_is_reported_with_its_place() {
    let map = synthetic_map();
    let tree = files(&[
        ("base/mod.rs", "//! The base.\nmod inner;\n"),
        // `base` reaching up to `mid` closes the cycle base -> mid -> base.
        (
            "base/inner.rs",
            "use super::Thing;\nuse crate::mid::Helper;\n",
        ),
        ("mid.rs", "use crate::base::Thing;\n"),
        ("top/mod.rs", "use crate::{base, mid::Helper};\n"),
    ]);
    assert_eq!(
        violations(&map, &tree),
        ["src/base/inner.rs:2: `base` uses `crate::mid`, but the module map in src/lib.rs lets `base` use only: no other module"]
    );
}

#[test]
fn nothing_may_use_the_composition_root() {
    let map = synthetic_map();
    let tree = files(&[("mid.rs", "fn f() { crate::top::run(); }\n")]);
    assert_eq!(
        violations(&map, &tree),
        ["src/mid.rs:1: `mid` uses `crate::top`, but the module map in src/lib.rs lets `mid` use only: base"]
    );
}

#[test]
fn every_way_of_naming_another_module_is_caught() {
    let map = synthetic_map();
    let tree = files(&[
        // A group, a glob at the root, a `super::` leaving the module
        // from an inline module, and a path in an expression.
        ("base/a.rs", "use crate::{self, mid::X};\n"),
        ("base/b.rs", "use crate::*;\n"),
        (
            "base/c.rs",
            "mod inner {\n    use super::super::super::mid::X;\n}\n",
        ),
        ("base/d.rs", "fn f() -> u8 {\n    $crate::top::g()\n}\n"),
        ("base.rs", "use super::mid;\n"),
    ]);
    let found: Vec<String> = violations(&map, &tree)
        .iter()
        .map(|v| v.split(", but").next().unwrap().to_owned())
        .collect();
    assert_eq!(
        found,
        [
            "src/base.rs:1: `base` uses `crate::mid`",
            "src/base/a.rs:1: `base` uses `crate::mid`",
            "src/base/b.rs:1: `base` uses `crate::*`, which is not a module in the module map in src/lib.rs",
            "src/base/c.rs:2: `base` uses `crate::mid`",
            "src/base/d.rs:2: `base` uses `crate::top`",
        ]
    );
}

#[test]
fn comments_strings_inner_paths_and_tests_are_not_imports() {
    let map = synthetic_map();
    let tree = files(&[
        (
            "base/mod.rs",
            "//! See [`crate::top`].\n\
             /* crate::mid /* nested */ crate::mid */\n\
             const A: &str = \"crate::mid::X\";\n\
             const B: &str = r#\"crate::mid \"quoted\"\"#;\n\
             const C: char = '\"';\n\
             fn f<'a>(x: &'a str) -> &'a str { x }\n\
             pub(crate) use self::inner::Y;\n\
             use super::base::Z;\n\
             mod inner;\n\
             #[cfg(test)]\n\
             mod tests;\n\
             #[cfg(test)]\n\
             #[allow(dead_code)]\n\
             pub(crate) mod fixture {\n    use crate::top::Everything;\n}\n\
             fn after() { let _ = crate::base::A; }\n",
        ),
        ("base/inner.rs", "use super::super::base::W;\n"),
        ("base/tests.rs", "use crate::top::Harness;\n"),
        ("base/tests/more.rs", "use crate::mid::Helper;\n"),
    ]);
    assert_eq!(violations(&map, &tree), Vec::<String>::new());
}

#[test]
fn a_map_with_a_cycle_or_a_stranger_is_refused() {
    let map = parse_map("//! # Module map\n//! ```text\n//! a: b\n//! b: c\n//! c: a\n//! ```\n")
        .unwrap();
    let declared = ["a", "b", "c", "d"].map(str::to_owned).into();
    assert_eq!(
        check_map(&map, &declared),
        [
            "`d` is declared in src/lib.rs but missing from its module map: add a line saying what it may use",
            "the module map has a cycle: a -> b -> c -> a; one of these arrows must go",
        ]
    );
    // Two composition roots would use each other.
    let two_roots =
        parse_map("//! # Module map\n//! ```text\n//! a: *\n//! b: *\n//! ```\n").unwrap();
    let declared = ["a", "b"].map(str::to_owned).into();
    assert_eq!(
        check_map(&two_roots, &declared),
        ["the module map has a cycle: a -> b -> a; one of these arrows must go"]
    );
    assert!(parse_map("//! no map here\n").is_err());
}
