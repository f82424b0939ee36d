//! Comparing secrets (or their digests) so that the time taken does not
//! depend on where the inputs first differ: a client timing refusals
//! learns nothing about what is stored.

/// Equality of two 32-byte digests, in constant time.
#[must_use]
pub fn eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::eq;

    #[test]
    fn is_equality_on_every_bit() {
        let a: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37));
        assert!(eq(&a, &a.clone()));
        for byte in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[byte] ^= 1 << bit;
                assert!(!eq(&a, &b), "byte {byte} bit {bit}");
                assert!(!eq(&b, &a), "byte {byte} bit {bit}");
            }
        }
        assert!(!eq(&[0; 32], &[0xff; 32]));
        assert!(eq(&[0; 32], &[0; 32]));
    }
}
