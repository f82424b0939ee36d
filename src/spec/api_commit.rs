//! The shape of a commit the daemon writes for an API call (pure): who it
//! names as author and committer, and the trailers of its message.
//!
//! `source` writes it and `identity` reads it, so both share this one
//! description. The trailers are read from the bytes the daemon's API key
//! signed, so nobody can add or change one without breaking the signature.
//!
//! ```text
//! Register 10.0.0.7:8080 in pool/web
//!
//! Lbops-Service-Account: deploy-bot
//! Lbops-Token: 0a1b2c3d4e5f
//! Lbops-Request: 01JD7X3W4Y5Z
//! ```

use super::material::api_token::TokenId;
use super::units::Name;
use std::fmt;

/// Names the ServiceAccount the commit speaks for.
pub const ACCOUNT_TRAILER: &str = "Lbops-Service-Account";
/// Names the id (never the secret) of the token the call presented.
pub const TOKEN_TRAILER: &str = "Lbops-Token";
/// Names the API request, as the audit log and the caller know it.
pub const REQUEST_TRAILER: &str = "Lbops-Request";

/// The committer of every API commit: the daemon itself.
pub const COMMITTER_NAME: &str = "lbops API";
/// `.invalid` (RFC 2606) never routes mail, and no User can claim it.
pub const COMMITTER_EMAIL: &str = "api@lbops.invalid";
/// The domain of the author emails of API commits.
pub const AUTHOR_DOMAIN: &str = "serviceaccount.lbops.invalid";

/// The author email of a commit made for `account` through the API: a
/// fixed form, whatever emails the account lists (it may list none, and
/// those belong to its own signing keys).
#[must_use]
pub fn author_email(account: &Name) -> String {
    format!("{account}@{AUTHOR_DOMAIN}")
}

/// The longest request id a trailer may carry.
pub const MAX_REQUEST_LEN: usize = 64;

/// An API request's id: 1 to 64 of `[A-Za-z0-9._-]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// Parses a request id as a trailer carries it.
    pub fn parse(text: &str) -> Result<RequestId, TrailerProblem> {
        let plain = text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !text.is_empty() && text.len() <= MAX_REQUEST_LEN && plain {
            Ok(RequestId(text.to_owned()))
        } else {
            Err(TrailerProblem::Malformed {
                trailer: REQUEST_TRAILER,
            })
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an API commit's trailers say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTrailers {
    pub account: Name,
    pub token: TokenId,
    pub request: RequestId,
}

impl ApiTrailers {
    /// The whole commit message: `summary`, a blank line, the trailers.
    /// Line breaks in `summary` are folded to spaces, so that it can never
    /// end in a trailer block of its own.
    #[must_use]
    pub fn message(&self, summary: &str) -> String {
        let summary: String = summary
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!(
            "{}\n\n{ACCOUNT_TRAILER}: {}\n{TOKEN_TRAILER}: {}\n{REQUEST_TRAILER}: {}\n",
            summary.trim(),
            self.account,
            self.token,
            self.request
        )
    }

    /// Reads the trailers from a commit object's signed bytes (headers,
    /// blank line, message). Each must appear exactly once, in the last
    /// paragraph of the message, as `Name: value`.
    pub fn from_signed(signed: &[u8]) -> Result<ApiTrailers, TrailerProblem> {
        let message = signed
            .windows(2)
            .position(|w| w == b"\n\n")
            .map_or(&[][..], |at| &signed[at + 2..]);
        let message = String::from_utf8_lossy(message);
        let last = message.trim_end().rsplit("\n\n").next().unwrap_or_default();
        let one = |trailer: &'static str| -> Result<&str, TrailerProblem> {
            let mut values = last.lines().filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == trailer).then(|| value.trim())
            });
            match (values.next(), values.next()) {
                (Some(value), None) => Ok(value),
                (None, _) => Err(TrailerProblem::Missing { trailer }),
                (Some(_), Some(_)) => Err(TrailerProblem::Repeated { trailer }),
            }
        };
        let account =
            one(ACCOUNT_TRAILER)?
                .parse::<Name>()
                .map_err(|_| TrailerProblem::Malformed {
                    trailer: ACCOUNT_TRAILER,
                })?;
        let token = TokenId::parse(one(TOKEN_TRAILER)?).map_err(|_| TrailerProblem::Malformed {
            trailer: TOKEN_TRAILER,
        })?;
        let request = RequestId::parse(one(REQUEST_TRAILER)?)?;
        Ok(ApiTrailers {
            account,
            token,
            request,
        })
    }
}

/// Why an API commit's trailers say nothing usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum TrailerProblem {
    #[error("it has no `{trailer}:` trailer in the last paragraph of its message")]
    Missing { trailer: &'static str },
    #[error("its `{trailer}:` trailer appears more than once")]
    Repeated { trailer: &'static str },
    #[error("its `{trailer}:` trailer is not well formed")]
    Malformed { trailer: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailers() -> ApiTrailers {
        ApiTrailers {
            account: "deploy-bot".parse().unwrap(),
            token: TokenId::parse("0a1b2c3d4e5f").unwrap(),
            request: RequestId::parse("req-1").unwrap(),
        }
    }

    fn signed(message: &str) -> Vec<u8> {
        format!("tree 0\nauthor a <a@b> 0 +0000\n\n{message}").into_bytes()
    }

    #[test]
    fn a_message_reads_back_as_its_trailers() {
        let message = trailers().message("Drain 10.0.0.7\nLbops-Token: zzzzzzzzzzzz");
        assert!(message.starts_with("Drain 10.0.0.7 Lbops-Token: zzzzzzzzzzzz\n\n"));
        assert_eq!(ApiTrailers::from_signed(&signed(&message)), Ok(trailers()));
    }

    #[test]
    fn trailers_outside_the_last_paragraph_do_not_count() {
        let message = "Summary\n\nLbops-Service-Account: deploy-bot\nLbops-Token: 0a1b2c3d4e5f\nLbops-Request: r\n\nSigned-off-by: x\n";
        assert_eq!(
            ApiTrailers::from_signed(&signed(message)),
            Err(TrailerProblem::Missing {
                trailer: ACCOUNT_TRAILER
            })
        );
    }

    #[test]
    fn each_trailer_is_needed_once_and_well_formed() {
        let full = trailers().message("s");
        let missing = full.replace("Lbops-Request: req-1\n", "");
        assert_eq!(
            ApiTrailers::from_signed(&signed(&missing)),
            Err(TrailerProblem::Missing {
                trailer: REQUEST_TRAILER
            })
        );
        let twice = format!("{full}Lbops-Token: 0a1b2c3d4e5f\n");
        assert_eq!(
            ApiTrailers::from_signed(&signed(&twice)),
            Err(TrailerProblem::Repeated {
                trailer: TOKEN_TRAILER
            })
        );
        let bad = full.replace("0a1b2c3d4e5f", "lbops_secret");
        assert_eq!(
            ApiTrailers::from_signed(&signed(&bad)),
            Err(TrailerProblem::Malformed {
                trailer: TOKEN_TRAILER
            })
        );
    }

    #[test]
    fn the_author_email_is_fixed_by_the_account_name() {
        let account: Name = "deploy-bot".parse().unwrap();
        assert_eq!(
            author_email(&account),
            "deploy-bot@serviceaccount.lbops.invalid"
        );
    }
}
