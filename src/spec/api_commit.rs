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
//!
//! A call by a person signed in through the identity provider names
//! their git User instead of an account and a token:
//!
//! ```text
//! Drain 10.0.0.7:8080 in pool/web
//!
//! Lbops-User: ada
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
/// Names the git User a signed-in person's call was made by.
pub const USER_TRAILER: &str = "Lbops-User";

/// The committer of every API commit: the daemon itself.
pub const COMMITTER_NAME: &str = "lbops API";
/// `.invalid` (RFC 2606) never routes mail, and no User can claim it.
pub const COMMITTER_EMAIL: &str = "api@lbops.invalid";
/// The domain of the author emails of API commits for a ServiceAccount.
pub const AUTHOR_DOMAIN: &str = "serviceaccount.lbops.invalid";
/// The domain of the author emails of API commits for a signed-in User.
pub const USER_AUTHOR_DOMAIN: &str = "user.lbops.invalid";

/// The author email of a commit made for `account` through the API: a
/// fixed form, whatever emails the account lists (it may list none, and
/// those belong to its own signing keys).
#[must_use]
pub fn author_email(account: &Name) -> String {
    format!("{account}@{AUTHOR_DOMAIN}")
}

/// Whom an API commit speaks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OnBehalf {
    /// A ServiceAccount, through one of its tokens (by id, never secret).
    Token { account: Name, token: TokenId },
    /// A git User, signed in through the identity provider.
    User { user: Name },
}

impl OnBehalf {
    /// The author's name: the account's or the User's.
    #[must_use]
    pub fn author_name(&self) -> &Name {
        match self {
            OnBehalf::Token { account, .. } => account,
            OnBehalf::User { user } => user,
        }
    }

    /// The author email: a fixed form per name, in a domain of its own
    /// for each kind, so neither can pass for the other (nor for a
    /// person's own email, which their own signed commits carry).
    #[must_use]
    pub fn author_email(&self) -> String {
        match self {
            OnBehalf::Token { account, .. } => author_email(account),
            OnBehalf::User { user } => format!("{user}@{USER_AUTHOR_DOMAIN}"),
        }
    }
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
    pub on_behalf: OnBehalf,
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
        let who = match &self.on_behalf {
            OnBehalf::Token { account, token } => {
                format!("{ACCOUNT_TRAILER}: {account}\n{TOKEN_TRAILER}: {token}")
            }
            OnBehalf::User { user } => format!("{USER_TRAILER}: {user}"),
        };
        format!(
            "{}\n\n{who}\n{REQUEST_TRAILER}: {}\n",
            summary.trim(),
            self.request
        )
    }

    /// Reads the trailers from a commit object's signed bytes (headers,
    /// blank line, message). Each must appear exactly once, in the last
    /// paragraph of the message, as `Name: value`; a commit names either
    /// an account and a token or a User, never both.
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
        let user = match one(USER_TRAILER) {
            Err(TrailerProblem::Missing { .. }) => None,
            other => Some(other?),
        };
        let on_behalf = match user {
            Some(user) => {
                for trailer in [ACCOUNT_TRAILER, TOKEN_TRAILER] {
                    if !matches!(one(trailer), Err(TrailerProblem::Missing { .. })) {
                        return Err(TrailerProblem::Both { trailer });
                    }
                }
                let user = user
                    .parse::<Name>()
                    .map_err(|_| TrailerProblem::Malformed {
                        trailer: USER_TRAILER,
                    })?;
                OnBehalf::User { user }
            }
            None => {
                let account = one(ACCOUNT_TRAILER)?.parse::<Name>().map_err(|_| {
                    TrailerProblem::Malformed {
                        trailer: ACCOUNT_TRAILER,
                    }
                })?;
                let token =
                    TokenId::parse(one(TOKEN_TRAILER)?).map_err(|_| TrailerProblem::Malformed {
                        trailer: TOKEN_TRAILER,
                    })?;
                OnBehalf::Token { account, token }
            }
        };
        let request = RequestId::parse(one(REQUEST_TRAILER)?)?;
        Ok(ApiTrailers { on_behalf, request })
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
    #[error("it names a User and also has a `{trailer}:` trailer: a call is a person's or a token's, never both")]
    Both { trailer: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailers() -> ApiTrailers {
        ApiTrailers {
            on_behalf: OnBehalf::Token {
                account: "deploy-bot".parse().unwrap(),
                token: TokenId::parse("0a1b2c3d4e5f").unwrap(),
            },
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
    fn a_persons_call_names_their_user_and_no_token() {
        let person = ApiTrailers {
            on_behalf: OnBehalf::User {
                user: "ada".parse().unwrap(),
            },
            request: RequestId::parse("req-2").unwrap(),
        };
        let message = person.message("Drain 10.0.0.7");
        assert_eq!(
            message,
            "Drain 10.0.0.7\n\nLbops-User: ada\nLbops-Request: req-2\n"
        );
        assert_eq!(
            ApiTrailers::from_signed(&signed(&message)),
            Ok(person.clone())
        );
        assert_eq!(person.on_behalf.author_email(), "ada@user.lbops.invalid");
        // A User and a token in one commit: whose call was it?
        let both = format!("{message}Lbops-Token: 0a1b2c3d4e5f\n");
        assert_eq!(
            ApiTrailers::from_signed(&signed(&both)),
            Err(TrailerProblem::Both {
                trailer: TOKEN_TRAILER
            })
        );
        let bad = message.replace("ada", "Ada Lovelace");
        assert_eq!(
            ApiTrailers::from_signed(&signed(&bad)),
            Err(TrailerProblem::Malformed {
                trailer: USER_TRAILER
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
