//! IPv4/IPv6 networks in CIDR notation, plus the "usable host" arithmetic
//! that address allocation is built on.
//!
//! Addresses are handled as plain integers (`u32` widened to `u128`) so one
//! code path serves both families; the family is carried alongside.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 or IPv6 network: a network address with all host bits zero and a
/// prefix length. Written and serialized as `"10.0.0.0/24"`.
///
/// Ordering is by network address (all IPv4 before all IPv6), then by prefix
/// length, so a network sorts directly before the networks nested in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Ord, PartialOrd)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a string is not a valid CIDR. Messages quote only the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The text has no `/prefix` part.
    #[error("\"{0}\" has no prefix length; write it as {hint}", hint = missing_prefix_hint(.0))]
    MissingPrefix(String),
    /// The part before the `/` is not an IP address.
    #[error("\"{0}\" is not a valid IPv4 or IPv6 address; write a network such as \"10.0.0.0/24\" or \"fd00::/64\"")]
    BadAddress(String),
    /// The part after the `/` is not a decimal number.
    #[error("prefix length \"{0}\" is not a number; write a number of bits after the \"/\", such as \"/24\"")]
    BadPrefix(String),
    /// The prefix length exceeds the number of bits in the address family.
    #[error("prefix length /{prefix} is too long for an {family} address; use at most /{max}", family = if *.max == 32 { "IPv4" } else { "IPv6" })]
    PrefixTooLong {
        /// The prefix length as written.
        prefix: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// The address has bits set beyond the prefix, so it is a host, not a network.
    #[error("\"{given}\" has host bits set; write the network address \"{normalized}\"{single}", single = single_address_hint(.given, .normalized))]
    HostBitsSet {
        /// The text as written.
        given: String,
        /// The network the text most likely meant.
        normalized: Cidr,
    },
}

fn missing_prefix_hint(text: &str) -> String {
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => format!(
            "\"{text}/32\" for a single address, or add the network's length such as \"/24\""
        ),
        Ok(IpAddr::V6(_)) => format!(
            "\"{text}/128\" for a single address, or add the network's length such as \"/64\""
        ),
        Err(_) => {
            "an address followed by \"/\" and a prefix length, such as \"10.0.0.0/24\"".to_owned()
        }
    }
}

/// The user may have meant one host rather than a network, so offer that too.
fn single_address_hint(given: &str, normalized: &Cidr) -> String {
    match given.split_once('/') {
        Some((host, _)) => format!(", or \"{host}/{}\" for a single address", normalized.bits()),
        None => String::new(),
    }
}

impl Cidr {
    /// Builds a network from an address and prefix length.
    ///
    /// # Errors
    ///
    /// [`CidrError::PrefixTooLong`] if `prefix` exceeds the family's bits,
    /// [`CidrError::HostBitsSet`] if `network` has bits set past the prefix.
    pub fn new(network: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let bits = family_bits(network);
        if prefix > bits {
            return Err(CidrError::PrefixTooLong {
                prefix: prefix.to_string(),
                max: bits,
            });
        }
        let value = to_u128(network);
        let host_mask = host_mask(bits, prefix);
        if value & host_mask != 0 {
            let normalized = Cidr {
                network: from_u128(network.is_ipv4(), value & !host_mask),
                prefix,
            };
            return Err(CidrError::HostBitsSet {
                given: format!("{network}/{prefix}"),
                normalized,
            });
        }
        Ok(Cidr { network, prefix })
    }

    /// The network address (all host bits zero).
    #[must_use]
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length in bits.
    #[must_use]
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether this is an IPv4 network.
    #[must_use]
    pub fn is_ipv4(&self) -> bool {
        self.network.is_ipv4()
    }

    /// Whether `ip` lies inside this network. Always false for an address of
    /// the other family.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.is_ipv4() && to_u128(ip) & !self.host_mask() == self.value()
    }

    /// Whether the two networks share any address. CIDR blocks either nest or
    /// are disjoint, so this is "one contains the other's network address".
    #[must_use]
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// How many addresses [`Cidr::hosts`] yields.
    #[must_use]
    pub fn usable_count(&self) -> u128 {
        let (first, last) = self.usable_bounds();
        // Cannot overflow: the only network with 2^128 addresses (::/0) loses
        // its first address, leaving exactly u128::MAX.
        last - first + 1
    }

    /// The lowest usable address.
    #[must_use]
    pub fn first_usable(&self) -> IpAddr {
        self.ip(self.usable_bounds().0)
    }

    /// The highest usable address.
    #[must_use]
    pub fn last_usable(&self) -> IpAddr {
        self.ip(self.usable_bounds().1)
    }

    /// Whether `ip` is one of the addresses [`Cidr::hosts`] would yield.
    #[must_use]
    pub fn is_usable(&self, ip: IpAddr) -> bool {
        let (first, last) = self.usable_bounds();
        ip.is_ipv4() == self.is_ipv4() && (first..=last).contains(&to_u128(ip))
    }

    /// The usable addresses in ascending order, produced lazily (an IPv6 /64
    /// has 2^64 of them).
    ///
    /// IPv4 networks up to /30 skip the network and broadcast addresses;
    /// /31 (RFC 3021 point-to-point) and /32 use every address. IPv6 networks
    /// up to /126 skip the first address (the subnet-router anycast address,
    /// RFC 4291); /127 (RFC 6164) and /128 use every address.
    pub fn hosts(&self) -> impl Iterator<Item = IpAddr> + Clone {
        let (first, last) = self.usable_bounds();
        let ipv4 = self.is_ipv4();
        (first..=last).map(move |value| from_u128(ipv4, value))
    }

    /// The lowest usable address that is not in `used`.
    #[must_use]
    pub fn lowest_free(&self, used: &BTreeSet<IpAddr>) -> Option<IpAddr> {
        self.lowest_free_from(self.first_usable(), used)
    }

    /// The lowest usable address that is `>= from` (in [`IpAddr`] order, where
    /// every IPv4 address sorts before every IPv6 address) and not in `used`.
    ///
    /// Costs O(log n) plus one step per used address directly in the way, so
    /// an allocator that remembers where it stopped never rescans a network.
    #[must_use]
    pub fn lowest_free_from(&self, from: IpAddr, used: &BTreeSet<IpAddr>) -> Option<IpAddr> {
        let (first, last) = self.usable_bounds();
        let mut candidate = match (from.is_ipv4(), self.is_ipv4()) {
            (true, false) => first,
            (false, true) => return None,
            _ => to_u128(from).max(first),
        };
        if candidate > last {
            return None;
        }
        for &taken in used.range(self.ip(candidate)..=self.ip(last)) {
            // The range starts at `candidate`, so `taken >= candidate`; any
            // gap means `candidate` itself is free.
            if to_u128(taken) != candidate {
                break;
            }
            if candidate == last {
                return None;
            }
            candidate += 1;
        }
        Some(self.ip(candidate))
    }

    fn bits(&self) -> u8 {
        family_bits(self.network)
    }

    fn value(&self) -> u128 {
        to_u128(self.network)
    }

    fn host_mask(&self) -> u128 {
        host_mask(self.bits(), self.prefix)
    }

    fn ip(&self, value: u128) -> IpAddr {
        from_u128(self.is_ipv4(), value)
    }

    /// First and last usable address as integers; never empty.
    fn usable_bounds(&self) -> (u128, u128) {
        let network = self.value();
        let last = network | self.host_mask();
        let host_bits = self.bits() - self.prefix;
        let skip_network = host_bits >= 2;
        let skip_broadcast = host_bits >= 2 && self.is_ipv4();
        (
            network + u128::from(skip_network),
            last - u128::from(skip_broadcast),
        )
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let Some((address, prefix)) = text.split_once('/') else {
            return Err(CidrError::MissingPrefix(text.to_owned()));
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| CidrError::BadAddress(address.to_owned()))?;
        // `u8::from_str` would accept "+24"; only plain digits are a prefix.
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::BadPrefix(prefix.to_owned()));
        }
        let max = family_bits(network);
        let too_long = || CidrError::PrefixTooLong {
            prefix: prefix.to_owned(),
            max,
        };
        // All digits, so a parse failure can only be overflow.
        let length: u8 = prefix.parse().map_err(|_| too_long())?;
        match Cidr::new(network, length) {
            Err(CidrError::PrefixTooLong { .. }) => Err(too_long()),
            Err(CidrError::HostBitsSet { normalized, .. }) => Err(CidrError::HostBitsSet {
                given: text.to_owned(),
                normalized,
            }),
            other => other,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

fn family_bits(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn host_mask(bits: u8, prefix: u8) -> u128 {
    let host_bits = u32::from(bits - prefix);
    // A shift by 128 is out of range for u128; no host bits means no mask.
    u128::MAX.checked_shr(128 - host_bits).unwrap_or(0)
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(ipv4: bool, value: u128) -> IpAddr {
    if ipv4 {
        // Callers only pass values derived from IPv4 addresses by masking or
        // stepping within the network, so the value always fits.
        IpAddr::V4(Ipv4Addr::from(u32::try_from(value).unwrap_or(u32::MAX)))
    } else {
        IpAddr::V6(Ipv6Addr::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{value, IntoDeserializer};

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn err(text: &str) -> CidrError {
        text.parse::<Cidr>().unwrap_err()
    }

    #[test]
    fn parses_and_displays_canonical_form() {
        for (text, shown) in [
            ("10.0.0.0/24", "10.0.0.0/24"),
            ("fd00:0:0::/64", "fd00::/64"),
            ("10.0.0.0/024", "10.0.0.0/24"),
            ("::/0", "::/0"),
            ("2001:db8::1/128", "2001:db8::1/128"),
        ] {
            assert_eq!(cidr(text).to_string(), shown);
        }
        let net = cidr("10.0.0.0/8");
        assert_eq!((net.network(), net.prefix()), (ip("10.0.0.0"), 8));
        assert!(net.is_ipv4() && !cidr("fd00::/8").is_ipv4());
        assert_eq!(Cidr::new(ip("10.0.0.0"), 8), Ok(net));
        assert_eq!(Cidr::new(ip("10.0.0.1"), 8), Err(err("10.0.0.1/8")));
        assert_eq!(Cidr::new(ip("::"), 129), Err(err("::/129")));
    }

    #[test]
    fn rejects_malformed_text_quoting_the_offending_part() {
        use CidrError::*;
        let too_long = |prefix: &str, max| PrefixTooLong {
            prefix: prefix.into(),
            max,
        };
        for (text, expected) in [
            ("10.0.0.0", MissingPrefix("10.0.0.0".into())),
            ("", MissingPrefix(String::new())),
            ("10.0.0.256/24", BadAddress("10.0.0.256".into())),
            ("/24", BadAddress(String::new())),
            (" 10.0.0.0/24", BadAddress(" 10.0.0.0".into())),
            ("fe80::1%eth0/64", BadAddress("fe80::1%eth0".into())),
            ("10.0.0.0/+24", BadPrefix("+24".into())),
            ("10.0.0.0/24/24", BadPrefix("24/24".into())),
            ("10.0.0.0/ 24", BadPrefix(" 24".into())),
            ("10.0.0.0/33", too_long("33", 32)),
            ("fd00::/129", too_long("129", 128)),
            ("::/999", too_long("999", 128)),
            (
                "10.0.0.1/24",
                HostBitsSet {
                    given: "10.0.0.1/24".into(),
                    normalized: cidr("10.0.0.0/24"),
                },
            ),
        ] {
            assert_eq!(err(text), expected, "{text}");
        }
        // The boundaries themselves are fine.
        assert!("10.0.0.0/32".parse::<Cidr>().is_ok() && "::/128".parse::<Cidr>().is_ok());
    }

    #[test]
    fn messages_say_what_to_write_instead() {
        for (text, wanted) in [
            ("10.0.0.0", "write it as \"10.0.0.0/32\""),
            ("fd00::1", "\"fd00::1/128\""),
            ("nonsense", "such as \"10.0.0.0/24\""),
            ("1.2.3.256/8", "\"1.2.3.256\" is not a valid IPv4"),
            ("10.0.0.0/x", "\"x\" is not a number"),
            ("10.0.0.0/33", "/33 is too long for an IPv4 address"),
            ("10.0.0.0/33", "use at most /32"),
            ("fd00::/129", "IPv6 address; use at most /128"),
            ("10.0.0.1/24", "address \"10.0.0.0/24\", or \"10.0.0.1/32\""),
            ("fd00::1/64", "\"fd00::/64\", or \"fd00::1/128\""),
            ("255.255.255.255/0", "\"0.0.0.0/0\""),
        ] {
            let message = err(text).to_string();
            assert!(message.contains(wanted), "{message}");
        }
    }

    #[test]
    fn contains_and_overlaps_respect_family_and_bounds() {
        for (net, address, inside) in [
            ("10.0.0.0/24", "10.0.0.0", true),
            ("10.0.0.0/24", "10.0.0.255", true),
            ("10.0.0.0/24", "10.0.1.0", false),
            ("10.0.0.0/24", "9.255.255.255", false),
            ("10.0.0.0/24", "::ffff:10.0.0.1", false),
            ("0.0.0.0/0", "255.255.255.255", true),
            ("::/0", "10.0.0.1", false),
            ("fd00::/64", "fd00::ffff:ffff:ffff:ffff", true),
            ("fd00::/64", "fd00:0:0:1::", false),
        ] {
            assert_eq!(cidr(net).contains(ip(address)), inside, "{net} {address}");
        }
        for (a, b, overlap) in [
            ("10.0.0.0/8", "10.1.0.0/16", true),
            ("10.0.0.0/24", "10.0.0.0/24", true),
            ("10.0.0.0/25", "10.0.0.128/25", false),
            ("0.0.0.0/0", "::/0", false),
        ] {
            assert_eq!(cidr(a).overlaps(&cidr(b)), overlap, "{a} {b}");
            assert_eq!(cidr(b).overlaps(&cidr(a)), overlap, "{b} {a}");
        }
    }

    #[test]
    fn usable_hosts_follow_the_rules() {
        for (net, count, first, last) in [
            ("10.0.0.0/24", 254, "10.0.0.1", "10.0.0.254"),
            ("10.0.0.0/30", 2, "10.0.0.1", "10.0.0.2"),
            ("10.0.0.0/31", 2, "10.0.0.0", "10.0.0.1"),
            ("10.0.0.7/32", 1, "10.0.0.7", "10.0.0.7"),
            ("0.0.0.0/0", (1 << 32) - 2, "0.0.0.1", "255.255.255.254"),
            ("fd00::/126", 3, "fd00::1", "fd00::3"),
            ("fd00::/127", 2, "fd00::", "fd00::1"),
            ("fd00::5/128", 1, "fd00::5", "fd00::5"),
        ] {
            let net = cidr(net);
            assert_eq!(net.usable_count(), count, "{net}");
            let range = (net.first_usable(), net.last_usable());
            assert_eq!(range, (ip(first), ip(last)), "{net}");
            assert!(net.is_usable(ip(first)) && net.is_usable(ip(last)), "{net}");
            assert_eq!(net.hosts().next(), Some(ip(first)), "{net}");
            if count <= 254 {
                assert_eq!(net.hosts().last(), Some(ip(last)), "{net}");
                assert_eq!(net.hosts().count() as u128, count, "{net}");
            }
        }
        let huge = [cidr("fd00::/64"), cidr("::/0")];
        assert_eq!(huge.map(|n| n.usable_count()), [(1 << 64) - 1, u128::MAX]);
        assert_eq!(
            huge.map(|n| n.hosts().next()),
            [Some(ip("fd00::1")), Some(ip("::1"))]
        );
        assert_eq!(
            huge[1].last_usable(),
            ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
        let net = cidr("10.0.0.0/24");
        assert!(!net.is_usable(ip("10.0.0.0")) && !net.is_usable(ip("10.0.0.255")));
        assert!(!net.is_usable(ip("::1")) && !cidr("fd00::/64").is_usable(ip("fd00::")));
    }

    #[test]
    fn lowest_free_skips_used_addresses_lazily() {
        let net = cidr("10.0.0.0/29");
        let mut used: BTreeSet<IpAddr> = ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.4"]
            .map(ip)
            .into();
        assert_eq!(net.lowest_free(&used), Some(ip("10.0.0.3")));
        used.insert(ip("10.0.0.3"));
        assert_eq!(net.lowest_free(&used), Some(ip("10.0.0.5")));
        let six = ip("10.0.0.6");
        assert_eq!(net.lowest_free_from(six, &used), Some(six));
        assert_eq!(net.lowest_free_from(ip("10.0.0.7"), &used), None);
        used.extend([ip("10.0.0.5"), ip("10.0.0.6")]);
        assert_eq!(net.lowest_free(&used), None);
        assert_eq!(cidr("10.0.1.0/30").lowest_free(&used), Some(ip("10.0.1.1")));
        // Other families order like IpAddr: every IPv4 address before IPv6.
        assert_eq!(
            cidr("fd00::/64").lowest_free_from(ip("10.0.0.9"), &used),
            Some(ip("fd00::1"))
        );
        assert_eq!(net.lowest_free_from(ip("::1"), &used), None);
        let big: BTreeSet<IpAddr> = (1..=10_000u128)
            .map(|n| IpAddr::V6(Ipv6Addr::from(0xfd00 << 112 | n)))
            .collect();
        assert_eq!(cidr("fd00::/64").lowest_free(&big), Some(ip("fd00::2711")));
        let top = cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
        assert_eq!(top.lowest_free(&top.hosts().collect()), None);
    }

    #[test]
    fn sorts_containing_networks_first_and_deserializes_from_text() {
        let mut nets = ["fd00::/64", "10.0.0.128/25", "10.0.0.0/25", "10.0.0.0/24"].map(cidr);
        nets.sort();
        assert_eq!(
            nets.map(|n| n.to_string()),
            ["10.0.0.0/24", "10.0.0.0/25", "10.0.0.128/25", "fd00::/64"]
        );
        let parse = |text: &str| {
            Cidr::deserialize(IntoDeserializer::<value::Error>::into_deserializer(text))
        };
        assert_eq!(parse("10.0.0.0/24"), Ok(cidr("10.0.0.0/24")));
        let message = parse("10.0.0.1/24").unwrap_err().to_string();
        assert!(message.contains("\"10.0.0.0/24\""), "{message}");
    }
}
