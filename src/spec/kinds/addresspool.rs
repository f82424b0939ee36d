//! `AddressPool`: CIDRs that balancers take their addresses from.

use crate::spec::cidr::Cidr;
use crate::spec::yaml::Spanned;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPoolSpec {
    /// IPv4 and IPv6 networks, e.g. `203.0.113.0/28`, `2001:db8:1::/64`.
    pub cidrs: Vec<Spanned<CidrText>>,
}

/// A CIDR as the user wrote it, checked by [`Cidr`]'s parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CidrText(pub Cidr);

impl std::str::FromStr for CidrText {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse().map(CidrText).map_err(|e| format!("{e}"))
    }
}

crate::spec::units::string_value!(
    CidrText,
    "Cidr",
    "an IPv4 or IPv6 network such as 203.0.113.0/28"
);
