//! PEM certificate chains: parsing and expiry.
//!
//! A chain file holds one or more `-----BEGIN CERTIFICATE-----` blocks, leaf
//! first, as web servers and load balancers expect them. Text outside the
//! blocks (for example the `subject=` lines that `openssl s_client -showcerts`
//! prints, or `Bag Attributes` from `openssl pkcs12`) is ignored. Every block
//! must be a certificate: a private key in a chain file is an error whose
//! message never repeats the key.
//!
//! The PEM framing (BEGIN/END lines, base64 body) is parsed here so that errors
//! can name the block and the line it starts on; the DER inside is parsed with
//! `x509-parser`. Nothing is verified cryptographically: signatures, the
//! issuer/subject links and trust anchors are the TLS stack's business.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use thiserror::Error;
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

const SECONDS_PER_DAY: i64 = 86_400;

/// What a chain file says about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject distinguished name, attributes in certificate order, e.g.
    /// `CN=*.example.test`.
    pub subject: String,
    /// Issuer distinguished name, e.g. `O=lbops test, CN=lbops Test Root CA`.
    pub issuer: String,
    /// The `dNSName` entries of the subjectAltName extension, in order.
    pub dns_names: Vec<String>,
    /// Start of validity, in Unix seconds.
    pub not_before: i64,
    /// End of validity (inclusive, as X.509 defines it), in Unix seconds.
    pub not_after: i64,
}

/// The certificates of a chain file, leaf first, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Never empty when the chain comes from [`parse_chain`].
    pub certificates: Vec<CertificateInfo>,
}

/// Stand-in leaf for a hand-built empty [`Chain`]; never returned for a chain
/// from [`parse_chain`].
static NO_CERTIFICATE: CertificateInfo = CertificateInfo {
    subject: String::new(),
    issuer: String::new(),
    dns_names: Vec::new(),
    not_before: 0,
    not_after: 0,
};

impl Chain {
    /// The first certificate in the file: the one presented for the site.
    ///
    /// A chain from [`parse_chain`] is never empty. For a hand-built empty
    /// chain this returns a placeholder with empty names and validity ending
    /// at the Unix epoch, so that it reads as long expired.
    #[must_use]
    pub fn leaf(&self) -> &CertificateInfo {
        self.certificates.first().unwrap_or(&NO_CERTIFICATE)
    }

    /// The earliest `not_after` of any certificate in the chain: the chain
    /// stops working when its first member expires. `0` for an empty chain.
    #[must_use]
    pub fn earliest_expiry(&self) -> i64 {
        self.certificates
            .iter()
            .map(|c| c.not_after)
            .min()
            .unwrap_or(NO_CERTIFICATE.not_after)
    }
}

/// Why a PEM chain could not be read. Blocks and lines are 1-based; `line` is
/// where the offending block starts in the PEM text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    /// The text is empty or only whitespace.
    #[error(
        "the certificate chain is empty: paste the PEM certificates, leaf first, each between \
         `-----BEGIN CERTIFICATE-----` and `-----END CERTIFICATE-----`"
    )]
    Empty,
    /// The text holds no PEM block, or a BEGIN line is malformed.
    #[error(
        "block {block} (line {line}) is not PEM: expected a `-----BEGIN CERTIFICATE-----` line, \
         base64 lines, and a matching `-----END CERTIFICATE-----` line (DER or other binary \
         encodings must be converted with `openssl x509 -inform der -outform pem`)"
    )]
    NotPem {
        /// Which block (1-based).
        block: usize,
        /// Line (1-based) where the offending text starts.
        line: usize,
    },
    /// A BEGIN line has no matching END line before the next BEGIN or the end
    /// of the text.
    #[error(
        "block {block} (line {line}) has no `-----END CERTIFICATE-----` line: the file looks \
         truncated; copy the whole certificate again"
    )]
    Unterminated {
        /// Which block (1-based).
        block: usize,
        /// Line (1-based) of its BEGIN line.
        line: usize,
    },
    /// The END line names a different label than the BEGIN line.
    #[error(
        "block {block} (line {line}) ends with an END line whose label does not match its BEGIN \
         line: each block must end with `-----END CERTIFICATE-----`"
    )]
    MismatchedEnd {
        /// Which block (1-based).
        block: usize,
        /// Line (1-based) of its BEGIN line.
        line: usize,
    },
    /// The block is PEM but not a certificate, e.g. a private key.
    #[error("{}", not_a_certificate_message(*.block, *.line, .label))]
    NotACertificate {
        /// Which block (1-based).
        block: usize,
        /// Line (1-based) of its BEGIN line.
        line: usize,
        /// The PEM label, e.g. `PRIVATE KEY` (or `(unrecognised label)`
        /// when it is not a plain uppercase label).
        label: String,
    },
    /// The body of the block is not valid base64.
    #[error(
        "block {block} (line {line}) is not valid base64: part of the certificate is missing or \
         damaged; copy the whole certificate again"
    )]
    BadBase64 {
        /// Which block (1-based).
        block: usize,
        /// Line (1-based) of its BEGIN line.
        line: usize,
    },
    /// The block decodes but is not a well-formed X.509 certificate.
    #[error(
        "block {block} (line {line}) is not a valid X.509 certificate ({reason}): part of it is \
         missing or damaged; copy the whole certificate again"
    )]
    BadDer {
        /// Which block (1-based).
        block: usize,
        /// Line (1-based) of its BEGIN line.
        line: usize,
        /// What the DER parser reported (never the data itself).
        reason: String,
    },
}

fn not_a_certificate_message(block: usize, line: usize, label: &str) -> String {
    if label.contains("PRIVATE KEY") || label.contains("SECRET KEY") {
        format!(
            "block {block} (line {line}) is a private key ({label}), not a certificate: a chain \
             file must hold certificates only. Remove the key from the repository and reference \
             it from outside (a file path, an environment variable or a secret-provider id); it \
             is in git history now, so generate a new key and certificate and revoke this one"
        )
    } else {
        format!(
            "block {block} (line {line}) is a `{label}` block, not a certificate: a chain file \
             must hold only `-----BEGIN CERTIFICATE-----` blocks, leaf first"
        )
    }
}

/// Parses a PEM chain (leaf first). Text between blocks is ignored; every
/// block must be a certificate.
///
/// # Errors
///
/// A [`ChainError`] naming the first bad block and the line it starts on: the
/// text is empty or holds no PEM, a block is unterminated or mismatched, a
/// block is not a certificate (e.g. a private key), or its base64 or DER is
/// damaged.
#[must_use = "a chain that failed to parse must not be used"]
pub fn parse_chain(pem: &str) -> Result<Chain, ChainError> {
    if pem.trim().is_empty() {
        return Err(ChainError::Empty);
    }
    let mut certificates = Vec::new();
    let mut first_text_line = None;
    let mut open: Option<Open<'_>> = None;
    let mut block = 0usize;
    for (index, raw) in pem.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        match open.as_mut() {
            None => {
                if line.starts_with("-----BEGIN") {
                    block += 1;
                    let label = line
                        .strip_prefix("-----BEGIN ")
                        .and_then(|rest| rest.strip_suffix("-----"))
                        .ok_or(ChainError::NotPem {
                            block,
                            line: line_no,
                        })?;
                    open = Some(Open {
                        label,
                        line: line_no,
                        body: String::new(),
                    });
                } else if !line.is_empty() && first_text_line.is_none() {
                    first_text_line = Some(line_no);
                }
            }
            Some(current) => {
                if line.starts_with("-----BEGIN") {
                    return Err(ChainError::Unterminated {
                        block,
                        line: current.line,
                    });
                }
                if line.starts_with("-----END") {
                    let end_label = line
                        .strip_prefix("-----END ")
                        .and_then(|rest| rest.strip_suffix("-----"));
                    if end_label != Some(current.label) {
                        return Err(ChainError::MismatchedEnd {
                            block,
                            line: current.line,
                        });
                    }
                    certificates.push(certificate(block, current)?);
                    open = None;
                } else {
                    current.body.push_str(line);
                }
            }
        }
    }
    if let Some(current) = open {
        return Err(ChainError::Unterminated {
            block,
            line: current.line,
        });
    }
    if certificates.is_empty() {
        return Err(ChainError::NotPem {
            block: 1,
            line: first_text_line.unwrap_or(1),
        });
    }
    Ok(Chain { certificates })
}

struct Open<'a> {
    label: &'a str,
    line: usize,
    body: String,
}

fn certificate(block: usize, pem: &Open<'_>) -> Result<CertificateInfo, ChainError> {
    let line = pem.line;
    if pem.label != "CERTIFICATE" && pem.label != "X509 CERTIFICATE" {
        let plain = pem.label.len() <= 40
            && pem
                .label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ');
        return Err(ChainError::NotACertificate {
            block,
            line,
            label: if plain {
                pem.label.to_owned()
            } else {
                "(unrecognised label)".to_owned()
            },
        });
    }
    let der = STANDARD
        .decode(pem.body.as_bytes())
        .map_err(|_| ChainError::BadBase64 { block, line })?;
    let bad_der = |reason: &str| ChainError::BadDer {
        block,
        line,
        reason: reason.to_owned(),
    };
    if der.is_empty() {
        return Err(bad_der("the block holds no data"));
    }
    match outer_der_len(&der) {
        None => return Err(bad_der("the data does not start with a DER SEQUENCE")),
        Some(total) if total > der.len() => {
            return Err(bad_der(
                "the data ends too early, the certificate is cut off",
            ))
        }
        Some(total) if total < der.len() => {
            return Err(bad_der("unexpected bytes after the certificate"))
        }
        Some(_) => {}
    }
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| match X509Error::from(e) {
        X509Error::NomError(_) | X509Error::Der(_) => bad_der("its DER structure is invalid"),
        other => bad_der(&other.to_string()),
    })?;
    let dns_names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                _ => None,
            })
            .collect(),
        Ok(None) => Vec::new(),
        Err(_) => return Err(bad_der("invalid subjectAltName extension")),
    };
    let validity = cert.validity();
    Ok(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        dns_names,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

/// Total length (header + content) of the outer DER SEQUENCE, if the header
/// is well formed.
fn outer_der_len(der: &[u8]) -> Option<usize> {
    if der.first() != Some(&0x30) {
        return None;
    }
    let first = *der.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let len = der
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    2usize.checked_add(n)?.checked_add(len)
}

/// How a chain stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// Every certificate is valid for longer than the warning window.
    Valid,
    /// Valid now, but the earliest `not_after` is within the warning window.
    ExpiresSoon {
        /// Whole days left, rounded down (0 means less than a day).
        days_left: i64,
    },
    /// At least one certificate has expired.
    Expired {
        /// Whole days since the earliest `not_after`, rounded down (0 means
        /// less than a day ago).
        days_ago: i64,
    },
    /// At least one certificate's `not_before` is still in the future.
    NotYetValid,
}

/// Classifies `chain` at `now_unix` (Unix seconds, supplied by the caller),
/// warning when the earliest expiry is less than `warn_within_days` days
/// away. `not_after` is inclusive: a certificate is still valid at exactly
/// its `not_after` second. Expired takes precedence over not-yet-valid.
#[must_use]
pub fn expiry(chain: &Chain, now_unix: i64, warn_within_days: i64) -> Expiry {
    let earliest = chain.earliest_expiry();
    if now_unix > earliest {
        return Expiry::Expired {
            days_ago: now_unix.saturating_sub(earliest) / SECONDS_PER_DAY,
        };
    }
    let latest_start = chain
        .certificates
        .iter()
        .map(|c| c.not_before)
        .max()
        .unwrap_or(NO_CERTIFICATE.not_before);
    if now_unix < latest_start {
        return Expiry::NotYetValid;
    }
    let left = earliest.saturating_sub(now_unix);
    if left < warn_within_days.saturating_mul(SECONDS_PER_DAY) {
        Expiry::ExpiresSoon {
            days_left: left / SECONDS_PER_DAY,
        }
    } else {
        Expiry::Valid
    }
}

#[cfg(test)]
mod tests;
