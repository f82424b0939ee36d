//! What `validate` tells the user: one [`Diagnostic`] per problem, each
//! at the `file:line:column` of the value it is about, with a hint.

use super::kinds::Kind;
use super::yaml::Pos;
use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Every class of problem `validate` reports; stable, for CI and editors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    YamlSyntax,
    TooLarge,
    BadDocument,
    UnknownKind,
    UnknownField,
    MissingField,
    WrongType,
    InvalidValue,
    DuplicateResource,
    DanglingReference,
    ZeroWeights,
    PortOutOfRange,
    ListenerConflict,
    InvalidListener,
    InvalidRoute,
    InvalidHealthCheck,
    CertificateInvalid,
    CertificateExpired,
    CertificateExpiresSoon,
    PrivateKeyInRepo,
    SecretInRepo,
    KeyReference,
    AddressPoolOverlap,
    AddressConflict,
    AddressPoolExhausted,
    UnknownAction,
    BadResourcePattern,
    BadSigningKey,
    DuplicateSigningKey,
    BadTokenHash,
    /// A token's `id` is not one `lbops token create` makes, or two
    /// tokens share one.
    BadTokenId,
    DuplicateEmail,
    InvalidOwner,
    UnsupportedByProvider,
    /// Judging a pushed head could not finish: over its time budget, or
    /// the daemon stopped while judging it more than once.
    JudgementAborted,
}

impl Code {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "yaml-syntax",
            Code::TooLarge => "too-large",
            Code::BadDocument => "bad-document",
            Code::UnknownKind => "unknown-kind",
            Code::UnknownField => "unknown-field",
            Code::MissingField => "missing-field",
            Code::WrongType => "wrong-type",
            Code::InvalidValue => "invalid-value",
            Code::DuplicateResource => "duplicate-resource",
            Code::DanglingReference => "dangling-reference",
            Code::ZeroWeights => "zero-weights",
            Code::PortOutOfRange => "port-out-of-range",
            Code::ListenerConflict => "listener-conflict",
            Code::InvalidListener => "invalid-listener",
            Code::InvalidRoute => "invalid-route",
            Code::InvalidHealthCheck => "invalid-health-check",
            Code::CertificateInvalid => "certificate-invalid",
            Code::CertificateExpired => "certificate-expired",
            Code::CertificateExpiresSoon => "certificate-expires-soon",
            Code::PrivateKeyInRepo => "private-key-in-repo",
            Code::SecretInRepo => "secret-in-repo",
            Code::KeyReference => "key-reference",
            Code::AddressPoolOverlap => "address-pool-overlap",
            Code::AddressConflict => "address-conflict",
            Code::AddressPoolExhausted => "address-pool-exhausted",
            Code::UnknownAction => "unknown-action",
            Code::BadResourcePattern => "bad-resource-pattern",
            Code::BadSigningKey => "bad-signing-key",
            Code::DuplicateSigningKey => "duplicate-signing-key",
            Code::BadTokenHash => "bad-token-hash",
            Code::BadTokenId => "bad-token-id",
            Code::DuplicateEmail => "duplicate-email",
            Code::InvalidOwner => "invalid-owner",
            Code::UnsupportedByProvider => "unsupported-by-provider",
            Code::JudgementAborted => "judgement-aborted",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem, where it is, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub severity: Severity,
    /// The kind of the document the problem is in, when known.
    pub kind: Option<Kind>,
    /// The name of that document, when known.
    pub name: Option<String>,
    pub code: Code,
    pub message: String,
    pub hint: String,
}

impl Diagnostic {
    pub(crate) fn error(file: &str, pos: Pos, code: Code, message: impl Into<String>) -> Self {
        let message = message.into();
        // A last line of defence: whatever a check echoed, a message that
        // would show a known kind of secret is replaced as a whole.
        let message = if super::material::scan(&message).is_empty() {
            message
        } else {
            "this value would show a secret, so it is not printed; see the secret-in-repo error for where it is".to_owned()
        };
        Self {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            severity: Severity::Error,
            kind: None,
            name: None,
            code,
            message,
            hint: String::new(),
        }
    }

    pub(crate) fn warning(file: &str, pos: Pos, code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(file, pos, code, message)
        }
    }

    #[must_use]
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    #[must_use]
    pub(crate) fn about(mut self, kind: Kind, name: &str) -> Self {
        self.kind = Some(kind);
        self.name = Some(name.to_owned());
        self
    }

    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    fn sort_key(&self) -> (&str, u32, u32, Code, &str) {
        (&self.file, self.line, self.column, self.code, &self.message)
    }
}

/// How a value the user wrote is echoed in a message: never when it looks
/// like a secret, and cut short when long.
pub(crate) fn shown(value: &str) -> String {
    /// Values longer than this are cut to [`SHOWN_PREFIX`] characters.
    const MAX_SHOWN: usize = 60;
    const SHOWN_PREFIX: usize = 40;
    if super::material::looks_like_secret(value) {
        "<redacted: looks like a secret>".to_owned()
    } else if value.chars().count() > MAX_SHOWN {
        let head: String = value.chars().take(SHOWN_PREFIX).collect();
        format!("{head}…")
    } else {
        value.to_owned()
    }
}

/// Sorts by file, line, column, so output reads top to bottom.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: error[code] Kind/name: message` and an indented hint,
    /// the shape compilers use so editors and CI annotate the line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {severity}[{}]",
            self.file, self.line, self.column, self.code
        )?;
        if let (Some(kind), Some(name)) = (self.kind, &self.name) {
            write!(f, " {}/{}", kind.id_prefix(), name)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}
