//! The one hex encoder: two digits a byte, lowercase (digests, tokens,
//! signatures lbops writes) or uppercase (OpenPGP fingerprints, as `gpg`
//! prints them).

const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// `bytes` in lowercase hex.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    with_digits(bytes, LOWER)
}

/// `bytes` in uppercase hex.
#[must_use]
pub fn encode_upper(bytes: &[u8]) -> String {
    with_digits(bytes, UPPER)
}

fn with_digits(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_digits_a_byte_in_either_case() {
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(encode_upper(&[0x00, 0x0f, 0xa5, 0xff]), "000FA5FF");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(encode(&all), expected);
        assert_eq!(encode_upper(&all), expected.to_uppercase());
    }
}
