use super::de::{from_node, DeErrorKind};
use super::*;
use crate::spec::limits::{MAX_DEPTH, MAX_KEYS};
use serde::Deserialize;

fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let parsed = parse(text);
    assert_eq!(parsed.duplicate_keys, []);
    match parsed.fatal {
        Some(e) => Err(e),
        None => Ok(parsed.documents),
    }
}

fn one(text: &str) -> Node {
    let mut docs = parse_documents(text).expect("valid YAML");
    assert_eq!(docs.len(), 1);
    docs.remove(0).root
}

#[test]
fn every_value_knows_its_line_and_column() {
    let root = one("a: 1\nb:\n  - x\n  - {c: d}\n");
    assert_eq!(root.get("a").unwrap().pos, Pos::new(1, 4));
    let Value::Seq(items) = &root.get("b").unwrap().value else {
        panic!("b is a list")
    };
    assert_eq!(items[0].pos, Pos::new(3, 5));
    assert_eq!(items[1].get("c").unwrap().pos, Pos::new(4, 9));
}

#[test]
fn several_documents_per_file_and_empty_ones_skipped() {
    let docs = parse_documents("a: 1\n---\n# only a comment\n---\nb: 2\n").unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].root.get("b").unwrap().pos.line, 5);
}

#[test]
fn documents_before_a_syntax_error_are_kept() {
    let parsed = parse("a: 1\n---\nb: [2\n---\nc: 3\n");
    assert_eq!(parsed.documents.len(), 1);
    assert_eq!(parsed.fatal.map(|e| e.pos.line), Some(4));
}

#[test]
fn syntax_errors_have_positions() {
    let err = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
    assert!(
        err.message.starts_with("YAML syntax error"),
        "{}",
        err.message
    );
    assert!(err.pos.line >= 1);
}

#[test]
fn duplicate_keys_are_errors_naming_the_first_and_reading_goes_on() {
    let parsed = parse("a: 1\nb: {c: 2, c: {d: 3}}\na: {x: 1}\ne: 5\n");
    let errors: Vec<String> = parsed
        .duplicate_keys
        .iter()
        .map(|e| format!("{}: {}", e.pos, e.message))
        .collect();
    assert_eq!(
        errors,
        [
            "2:11: duplicate key `c` (first at line 2); keep one of them",
            "3:1: duplicate key `a` (first at line 1); keep one of them",
        ]
    );
    let root = &parsed.documents[0].root;
    assert_eq!(
        root.get("a").unwrap().as_scalar(),
        Some("1"),
        "the first value is kept"
    );
    assert_eq!(
        root.get("b").unwrap().get("c").unwrap().as_scalar(),
        Some("2")
    );
    assert_eq!(
        root.get("e").unwrap().as_scalar(),
        Some("5"),
        "reading goes on after a repeat"
    );
}

#[test]
fn aliases_expand_but_a_billion_laughs_is_refused() {
    let root = one("base: &b {x: 1}\ncopy: *b\n");
    assert_eq!(
        root.get("copy").unwrap().get("x").unwrap().as_scalar(),
        Some("1")
    );
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..8 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    let err = parse_documents(&bomb).unwrap_err();
    assert!(err.message.contains("aliases expand"), "{}", err.message);
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Sample {
    port: Spanned<u16>,
    name: String,
    #[serde(default)]
    mode: Mode,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Mode {
    #[default]
    Fast,
    Careful {
        retries: u8,
    },
}

#[test]
fn spanned_values_carry_their_position() {
    let s: Sample = from_node(&one("name: web\nport: 8080\n")).unwrap();
    assert_eq!(s.port.value, 8080);
    assert_eq!(s.port.pos, Pos::new(2, 7));
}

#[test]
fn every_unknown_field_is_reported_with_a_suggestion() {
    let errors = from_node::<Sample>(&one("nmae: web\nport: 80\nname: x\nextra: 1\n")).unwrap_err();
    let rendered: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {e}", e.pos.unwrap()))
        .collect();
    assert_eq!(
        rendered,
        [
            "1:1: unknown field `nmae`; did you mean `name`?",
            "4:1: unknown field `extra`; expected one of `port`, `name`, `mode`",
        ]
    );
}

#[test]
fn wrong_types_point_at_the_value() {
    let errors = from_node::<Sample>(&one("name: web\nport: eighty\n")).unwrap_err();
    assert_eq!(errors[0].pos, Some(Pos::new(2, 7)));
    assert_eq!(
        errors[0].to_string(),
        "expected a whole number from 0 to 65535, found `eighty`"
    );
    let errors = from_node::<Sample>(&one("name: web\nport: 70000\n")).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "`70000` is out of range: expected a whole number from 0 to 65535"
    );
    let errors = from_node::<Sample>(&one("name: web\nport: \"80\"\n")).unwrap_err();
    assert!(
        matches!(errors[0].kind, DeErrorKind::InvalidType { .. }),
        "a quoted number is a string"
    );
}

#[test]
fn missing_fields_point_at_the_mapping() {
    let errors = from_node::<Sample>(&one("name: web\n")).unwrap_err();
    assert_eq!(errors[0].pos, Some(Pos::new(1, 1)));
    assert_eq!(errors[0].to_string(), "missing field `port`");
}

#[test]
fn enums_read_as_names_or_single_key_mappings() {
    let s: Sample = from_node(&one("name: a\nport: 1\nmode: {careful: {retries: 3}}\n")).unwrap();
    assert_eq!(s.mode, Mode::Careful { retries: 3 });
    let errors = from_node::<Sample>(&one("name: a\nport: 1\nmode: fsat\n")).unwrap_err();
    assert_eq!(errors[0].pos, Some(Pos::new(3, 7)));
    assert_eq!(
        errors[0].to_string(),
        "unknown value `fsat`; did you mean `fast`?"
    );
}

#[test]
fn values_that_look_like_secrets_are_never_echoed() {
    let token = format!("ghp_{}", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8");
    let errors = from_node::<Sample>(&one(&format!("name: a\nport: {token}\n"))).unwrap_err();
    let message = errors[0].to_string();
    assert!(!message.contains(&token), "{message}");
    assert!(message.contains("redacted"), "{message}");
}

/// Parses within the repository limits and returns the fatal error.
fn refused(text: &str) -> SyntaxError {
    parse_with(text, &Limits::REPOSITORY)
        .fatal
        .expect("refused")
}

fn depth_error(limit: usize) -> Option<Exceeded> {
    Some(Exceeded::Depth { limit })
}

// Each of these used to build a tree as deep as the input and overflow the
// stack dropping it (or, for flow collections, stop at saphyr's own cap
// of 255 with "recursion limit exceeded"); now the 65th level is refused
// where it opens, before anything deeper exists.

#[test]
fn deep_block_sequences_are_refused_where_they_pass_the_limit() {
    let text = format!("{}x\n", "- ".repeat(60_000));
    let err = refused(&text);
    assert_eq!(err.exceeded, depth_error(MAX_DEPTH));
    assert_eq!(err.pos, Pos::new(1, 2 * MAX_DEPTH as u32 + 1));
    assert_eq!(
        err.message,
        "lists and mappings are nested more than 64 levels deep here, the limit; nest less deeply; no kind needs more than about a dozen levels"
    );
}

#[test]
fn deep_flow_sequences_and_mappings_are_refused() {
    // saphyr's scanner reads ahead through unresolved flow collections and
    // stops at its own cap of 255 levels, before the 65th is handed over:
    // the same error, there.
    let err = refused(&format!("{}{}\n", "[".repeat(20_000), "]".repeat(20_000)));
    assert_eq!(err.exceeded, depth_error(MAX_DEPTH));
    assert_eq!(err.pos, Pos::new(1, 256));
    let err = refused(&format!(
        "{}1{}\n",
        "{a: ".repeat(20_000),
        "}".repeat(20_000)
    ));
    assert_eq!(err.exceeded, depth_error(MAX_DEPTH));
    assert_eq!(err.pos, Pos::new(1, 4 * 255 + 1));
    // Complex keys, `? ? ? …`: each one a mapping.
    let err = refused(&format!("{}x\n", "? ".repeat(60_000)));
    assert_eq!(err.exceeded, depth_error(MAX_DEPTH));
    assert_eq!(err.pos, Pos::new(1, 2 * MAX_DEPTH as u32 + 1));
}

#[test]
fn deep_indented_mappings_are_refused() {
    let text: String = (0..100)
        .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
        .collect();
    let err = refused(&text);
    assert_eq!(err.exceeded, depth_error(MAX_DEPTH));
    assert_eq!(err.pos.line, MAX_DEPTH as u32 + 1);
}

#[test]
fn the_limit_itself_is_allowed() {
    let text = format!("{}x{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    let parsed = parse_with(&text, &Limits::REPOSITORY);
    assert_eq!(parsed.fatal, None);
    assert_eq!(parsed.documents.len(), 1);
    let text = format!("{}x\n", "- ".repeat(MAX_DEPTH));
    assert_eq!(parse_with(&text, &Limits::REPOSITORY).fatal, None);
}

#[test]
fn an_alias_counts_the_depth_of_what_it_copies_where_it_lands() {
    let anchored = 40;
    let value = format!("{}x{}", "[".repeat(anchored), "]".repeat(anchored));
    // 40 levels copied under 24 open ones: 64, allowed.
    let fits = format!("a: &v {value}\nb: {}*v{}\n", "[".repeat(23), "]".repeat(23));
    let parsed = parse_with(&fits, &Limits::REPOSITORY);
    assert_eq!(parsed.fatal, None);
    // One more level: refused at the alias, before the copy is made.
    let deeper = format!("a: &v {value}\nb: {}*v{}\n", "[".repeat(24), "]".repeat(24));
    let err = refused(&deeper);
    assert_eq!(err.exceeded, depth_error(MAX_DEPTH));
    assert_eq!(err.pos, Pos::new(2, 4 + 24));
    // Aliases of aliases: each copy carries the depth of the value.
    let chain = "a: &a [[[[[[[[[[x]]]]]]]]]]\nb: &b [[[[[[[[[[*a]]]]]]]]]]\nc: &c [[[[[[[[[[*b]]]]]]]]]]\n\
                 d: &d [[[[[[[[[[*c]]]]]]]]]]\ne: &e [[[[[[[[[[*d]]]]]]]]]]\nf: &f [[[[[[[[[[*e]]]]]]]]]]\n\
                 g: [[[[[[[[[[*f]]]]]]]]]]\n";
    let err = refused(chain);
    assert_eq!(err.exceeded, depth_error(MAX_DEPTH));
    assert_eq!(err.pos.line, 7);
}

#[test]
fn a_wide_mapping_is_refused_at_the_first_key_past_the_limit() {
    // The 5 MB mapping of 460,000 keys that used to take minutes.
    let text: String = (0..460_000).map(|i| format!("key{i}: {i}\n")).collect();
    let err = refused(&text);
    assert_eq!(err.exceeded, Some(Exceeded::Keys { limit: MAX_KEYS }));
    assert_eq!(err.pos, Pos::new(MAX_KEYS as u32 + 1, 1));
}

#[test]
fn duplicates_are_found_among_many_keys() {
    let mut text: String = (0..50_000).map(|i| format!("key{i}: {i}\n")).collect();
    text.push_str("key7: again\n");
    let parsed = parse_with(&text, &Limits::CATALOG_DOCUMENT);
    assert_eq!(parsed.fatal, None);
    let errors: Vec<String> = parsed
        .duplicate_keys
        .iter()
        .map(|e| format!("{}: {}", e.pos, e.message))
        .collect();
    assert_eq!(
        errors,
        ["50001:1: duplicate key `key7` (first at line 8); keep one of them"]
    );
}

#[test]
fn values_and_alias_copies_are_counted() {
    let limits = Limits {
        nodes: 10,
        ..Limits::REPOSITORY
    };
    let err = parse_with("[a, b, c, d, e, f, g, h, i, j]\n", &limits)
        .fatal
        .expect("11 values");
    assert_eq!(err.exceeded, Some(Exceeded::Nodes { limit: 10 }));
    assert_eq!(err.pos, Pos::new(1, 29));
    // The outer list, the anchored one (3), its copy for the anchor (3),
    // the alias's copy (3) and `z`: 11.
    let limits = Limits {
        nodes: 11,
        ..Limits::REPOSITORY
    };
    let text = "- &a [x, y]\n- *a\n- z\n";
    assert_eq!(parse_with(text, &limits).fatal, None);
    // `[z]` makes 11 and `z` 12.
    let err = parse_with("- &a [x, y]\n- *a\n- [z]\n", &limits)
        .fatal
        .expect("12 values");
    assert_eq!(err.exceeded, Some(Exceeded::Nodes { limit: 11 }));
    assert_eq!(err.pos, Pos::new(3, 4));
}

#[test]
fn a_file_over_the_byte_limit_is_not_parsed() {
    let limits = Limits {
        file_bytes: 8,
        ..Limits::REPOSITORY
    };
    let parsed = parse_with("a: [1, 2, 3]\n", &limits);
    assert!(parsed.documents.is_empty());
    let err = parsed.fatal.expect("refused");
    assert_eq!(
        err.exceeded,
        Some(Exceeded::FileBytes { size: 13, limit: 8 })
    );
    assert_eq!(err.pos, Pos::new(1, 1));
}

#[test]
fn a_long_duplicate_key_is_shown_cut_short() {
    let key = "k".repeat(10_000);
    let parsed = parse(&format!("? {key}\n: 1\n? {key}\n: 2\n"));
    let message = &parsed.duplicate_keys[0].message;
    assert!(message.len() < 200, "{message}");
}
