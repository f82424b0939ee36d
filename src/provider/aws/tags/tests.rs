//! Every value lbops may keep in a tag comes back as it was, and every
//! tag it writes is one ELBv2's and ACM's models take.

use super::*;

/// `TagValue` of the elbv2 and acm models, checked strictly: the ASCII
/// part of `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$` (lbops writes nothing else),
/// at most 256 characters.
#[track_caller]
fn assert_valid_value(value: &str) {
    assert!(
        value.chars().count() <= MAX_VALUE,
        "{} characters: {value}",
        value.len()
    );
    assert!(
        value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c)),
        "not a TagValue: {value:?}"
    );
}

/// `TagKey`: the same alphabet, 1 to 128 characters.
#[track_caller]
fn assert_valid_key(key: &str) {
    assert!((1..=128).contains(&key.len()), "{key}");
    assert_valid_value(key);
}

/// Every value an lbops tag may hold and that trips a naive writer.
fn hostile() -> Vec<String> {
    let mut values: Vec<String> = [
        "",
        "text/plain; charset=utf-8",
        "/~user/$price/'q'/\"x\"/a&b/100%",
        "=",
        "==",
        "=3D",
        "a=",
        "ends in a space ",
        "café/日本語/🦀",
        "file:/etc/lbops/keys/shop example.key",
        "provider:arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-0123456789ab",
        "tab\tnew\nline\u{0}nul",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    // Long ones, cut across parts at every offset an escape can fall on.
    for pad in 0..4 {
        values.push(format!("{}{}", "a".repeat(250 + pad), "; ".repeat(200)));
        values.push(format!("{}{}", "x".repeat(pad), "é".repeat(300)));
    }
    values.push("cert-".repeat(25 * 13));
    values.push("=".repeat(1000));
    values
}

fn written(key: &str, value: &str) -> BTreeMap<String, String> {
    encode(key, value).into_iter().collect()
}

#[test]
fn every_value_comes_back_as_it_was() {
    for value in hostile() {
        assert_eq!(
            decode(&written("lbops:path", &value), "lbops:path").as_deref(),
            Some(value.as_str()),
            "{value:?}"
        );
    }
}

#[test]
fn every_tag_written_is_one_the_models_take() {
    for value in hostile() {
        for (key, part) in encode("lbops:certificates", &value) {
            assert_valid_key(&key);
            assert_valid_value(&part);
        }
    }
}

#[test]
fn a_plain_value_is_one_tag_as_it_is() {
    for value in [
        "loadbalancer/shop",
        "0123abcd",
        "shop-example-test",
        "0a:1b:2c",
        "",
    ] {
        assert_eq!(
            encode("lbops:id", value),
            [("lbops:id".to_owned(), value.to_owned())]
        );
    }
    assert_eq!(
        encode("lbops:content-type", "text/plain; charset=utf-8"),
        [(
            "lbops:content-type".to_owned(),
            "text/plain=3B=20charset=3Dutf-8".to_owned()
        )]
    );
}

#[test]
fn a_long_value_takes_numbered_parts() {
    let keys: Vec<String> = encode("lbops:key", &"k".repeat(600))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["lbops:key", "lbops:key.2", "lbops:key.3"]);
}

#[test]
fn a_value_that_shrinks_leaves_its_old_parts_unread() {
    let mut tags = written("lbops:certificates", &"long-".repeat(200));
    tags.extend(written("lbops:certificates", "short"));
    assert!(tags.contains_key("lbops:certificates.2"));
    assert_eq!(
        decode(&tags, "lbops:certificates").as_deref(),
        Some("short")
    );
}

#[test]
fn what_encode_never_writes_is_no_value() {
    let tag = |value: &str| BTreeMap::from([("k".to_owned(), value.to_owned())]);
    for broken in ["=", "a=G1", "=4", "=FF", "abc="] {
        assert_eq!(decode(&tag(broken), "k"), None, "{broken:?}");
    }
    assert_eq!(decode(&BTreeMap::new(), "k"), None);
}
