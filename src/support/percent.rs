//! Percent-encoding (RFC 3986 §2.1) of every byte but the unreserved
//! characters: a value so encoded can leave neither a URL path segment,
//! nor a query or form value, nor an HTML attribute it is quoted in.

use std::fmt::Write as _;

/// `text` with every byte but `A-Z a-z 0-9 - . _ ~` as `%XX`.
#[must_use]
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(encode("abc-1.2_~"), "abc-1.2_~");
        assert_eq!(encode("../x\"><"), "..%2Fx%22%3E%3C");
        assert_eq!(encode("a b&c=é"), "a%20b%26c%3D%C3%A9");
    }
}
