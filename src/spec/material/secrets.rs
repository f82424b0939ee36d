//! Finding secrets that must never be committed to a git repository.
//!
//! [`scan`] looks for a fixed, documented set of secret formats with
//! hand-written matchers (no regular expressions) in time linear in the length
//! of the text. What is detected:
//!
//! | kind | what matches |
//! | --- | --- |
//! | [`SecretKind::PrivateKeyBlock`] | `-----BEGIN <…>PRIVATE KEY-----` (PKCS#1 `RSA`, SEC1 `EC`, `DSA`, PKCS#8 plain and `ENCRYPTED`, …) and `---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----` |
//! | [`SecretKind::OpenSshPrivateKey`] | `-----BEGIN OPENSSH PRIVATE KEY-----` |
//! | [`SecretKind::PgpPrivateKeyBlock`] | `-----BEGIN PGP PRIVATE KEY BLOCK-----` (and the old `PGP SECRET KEY BLOCK`) |
//! | [`SecretKind::PuttyPrivateKey`] | a `PuTTY-User-Key-File-` header |
//! | [`SecretKind::GithubToken`] | `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` + exactly 36 letters/digits; `github_pat_` + at least 22 of `[A-Za-z0-9_]` |
//! | [`SecretKind::GitlabToken`] | `glpat-` + at least 20 of `[A-Za-z0-9_.-]` |
//! | [`SecretKind::SlackToken`] | `xoxa-`, `xoxb-`, `xoxp-`, `xoxo-`, `xoxs-`, `xoxr-` + at least 10 of `[A-Za-z0-9-]` |
//! | [`SecretKind::SlackWebhook`] | `hooks.slack.com/services/` + at least 20 of `[A-Za-z0-9/]` |
//! | [`SecretKind::AwsAccessKeyId`] | `AKIA` or `ASIA` + exactly 16 of `[A-Z0-9]` |
//! | [`SecretKind::StripeKey`] | `sk_live_` or `rk_live_` + at least 16 of `[A-Za-z0-9]` |
//! | [`SecretKind::GoogleApiKey`] | `AIza` + exactly 35 of `[A-Za-z0-9_-]` |
//! | [`SecretKind::DigitalOceanToken`] | `dop_v1_`, `doo_v1_`, `dor_v1_` + exactly 64 lowercase hex digits |
//! | [`SecretKind::NpmToken`] | `npm_` + exactly 36 letters/digits |
//! | [`SecretKind::LbopsToken`] | an lbops API token, `lbops_` + 12 of `[a-z0-9]` + `_` + 46 letters/digits, whose checksum holds (see [`super::api_token`]) |
//! | [`SecretKind::JsonWebToken`] | three base64url segments `eyJ….eyJ….<signature>` (header and payload at least 10 characters, signature at least 16) |
//!
//! Tokens only match on token boundaries: the character before a token must
//! not be an ASCII letter, digit or `_`, and the token must not continue into
//! a longer word. Non-ASCII characters (for example typographic quotes) count
//! as boundaries. PEM markers match anywhere, so a key embedded in a JSON
//! string (`"-----BEGIN PRIVATE KEY-----\n…"`) is found too.
//!
//! Not detected, because they have no recognisable shape: AWS secret access
//! keys, passwords, and provider tokens without a prefix. Certificates
//! (`-----BEGIN CERTIFICATE-----`), public keys (`-----BEGIN PUBLIC KEY-----`,
//! `-----BEGIN PGP PUBLIC KEY BLOCK-----`, `ssh-ed25519 AAAA…`) and test-mode
//! Stripe keys are not secrets and are never reported.

use std::fmt;

/// A kind of secret that [`scan`] can find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// A PEM private key: `-----BEGIN [RSA |EC |DSA |ENCRYPTED ]PRIVATE KEY-----`
    /// and similar, or an SSH2 (`---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----`) key.
    PrivateKeyBlock,
    /// `-----BEGIN OPENSSH PRIVATE KEY-----`.
    OpenSshPrivateKey,
    /// `-----BEGIN PGP PRIVATE KEY BLOCK-----`.
    PgpPrivateKeyBlock,
    /// A PuTTY `.ppk` private key file.
    PuttyPrivateKey,
    /// A GitHub personal access, OAuth, user-to-server, server-to-server or
    /// refresh token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GithubToken,
    /// A GitLab personal access token (`glpat-`).
    GitlabToken,
    /// A Slack API token (`xoxb-`, `xoxp-`, …).
    SlackToken,
    /// A Slack incoming-webhook URL (`hooks.slack.com/services/…`).
    SlackWebhook,
    /// An AWS access key id (`AKIA…`, `ASIA…`).
    AwsAccessKeyId,
    /// A Stripe live secret or restricted key (`sk_live_`, `rk_live_`).
    StripeKey,
    /// A Google API key (`AIza…`).
    GoogleApiKey,
    /// A DigitalOcean API token (`dop_v1_`, `doo_v1_`, `dor_v1_`).
    DigitalOceanToken,
    /// An npm access token (`npm_`).
    NpmToken,
    /// An lbops API token (`lbops_…`) with a valid checksum.
    LbopsToken,
    /// A JSON Web Token, i.e. a bearer credential (`eyJ….eyJ….…`).
    JsonWebToken,
}

impl SecretKind {
    /// Every kind, in a stable order.
    pub const ALL: [SecretKind; 15] = [
        SecretKind::PrivateKeyBlock,
        SecretKind::OpenSshPrivateKey,
        SecretKind::PgpPrivateKeyBlock,
        SecretKind::PuttyPrivateKey,
        SecretKind::GithubToken,
        SecretKind::GitlabToken,
        SecretKind::SlackToken,
        SecretKind::SlackWebhook,
        SecretKind::AwsAccessKeyId,
        SecretKind::StripeKey,
        SecretKind::GoogleApiKey,
        SecretKind::DigitalOceanToken,
        SecretKind::NpmToken,
        SecretKind::LbopsToken,
        SecretKind::JsonWebToken,
    ];

    /// A short noun phrase for messages, e.g. "a PEM private key block".
    #[must_use]
    pub fn describe(&self) -> &'static str {
        match self {
            SecretKind::PrivateKeyBlock => "a PEM private key block",
            SecretKind::OpenSshPrivateKey => "an OpenSSH private key",
            SecretKind::PgpPrivateKeyBlock => "an OpenPGP private key block",
            SecretKind::PuttyPrivateKey => "a PuTTY private key",
            SecretKind::GithubToken => "a GitHub access token",
            SecretKind::GitlabToken => "a GitLab personal access token",
            SecretKind::SlackToken => "a Slack API token",
            SecretKind::SlackWebhook => "a Slack webhook URL",
            SecretKind::AwsAccessKeyId => "an AWS access key id",
            SecretKind::StripeKey => "a Stripe live secret key",
            SecretKind::GoogleApiKey => "a Google API key",
            SecretKind::DigitalOceanToken => "a DigitalOcean API token",
            SecretKind::NpmToken => "an npm access token",
            SecretKind::LbopsToken => "an lbops API token",
            SecretKind::JsonWebToken => "a JSON Web Token (bearer credential)",
        }
    }

    /// What to do instead of committing this secret, as one or two sentences.
    #[must_use]
    pub fn hint(&self) -> &'static str {
        match self {
            SecretKind::PrivateKeyBlock
            | SecretKind::OpenSshPrivateKey
            | SecretKind::PuttyPrivateKey => {
                "Remove it and reference the key instead: by a file path outside the repository, \
                 an environment variable, or a secret-provider id. It is in git history now, so \
                 treat it as leaked: generate a new key pair and revoke this one."
            }
            SecretKind::PgpPrivateKeyBlock => {
                "Remove it and list only the public key (`gpg --export --armor <id>`). It is in \
                 git history now, so treat it as leaked: revoke this key and generate a new one."
            }
            SecretKind::GithubToken => {
                "Remove it and reference it through an environment variable or a secret-provider \
                 id. It is in git history now: revoke it in GitHub's token settings and issue a \
                 new one."
            }
            SecretKind::GitlabToken => {
                "Remove it and reference it through an environment variable or a secret-provider \
                 id. It is in git history now: revoke it in GitLab's access-token settings and \
                 issue a new one."
            }
            SecretKind::SlackToken | SecretKind::SlackWebhook => {
                "Remove it and reference it through an environment variable or a secret-provider \
                 id. It is in git history now: revoke or regenerate it in the Slack app settings."
            }
            SecretKind::AwsAccessKeyId => {
                "Remove it and use an IAM role, an environment variable or a secret-provider id \
                 instead. It is in git history now: deactivate this access key in IAM and create \
                 a new one (its secret access key must be treated as leaked too)."
            }
            SecretKind::StripeKey => {
                "Remove it and reference it through an environment variable or a secret-provider \
                 id. It is in git history now: roll the key in the Stripe dashboard."
            }
            SecretKind::GoogleApiKey => {
                "Remove it and reference it through an environment variable or a secret-provider \
                 id. It is in git history now: delete or regenerate the key in the Google Cloud \
                 console."
            }
            SecretKind::DigitalOceanToken => {
                "Remove it and reference it through an environment variable or a secret-provider \
                 id. It is in git history now: revoke it in the DigitalOcean control panel and \
                 create a new one."
            }
            SecretKind::NpmToken => {
                "Remove it and reference it through an environment variable or a secret-provider \
                 id. It is in git history now: revoke it with `npm token revoke` and create a new \
                 one."
            }
            SecretKind::LbopsToken => {
                "Remove it: a ServiceAccount keeps only the hash `lbops token create` prints. It is \
                 in git history now: remove its entry from the ServiceAccount's `tokens` (that \
                 revokes it at once) and create a new one."
            }
            SecretKind::JsonWebToken => {
                "Remove it and reference it through an environment variable or a secret-provider \
                 id. It is in git history now: revoke it (or rotate the signing key) and issue a \
                 new one."
            }
        }
    }

    /// Whether this kind is a private key (as opposed to an API token).
    #[must_use]
    pub fn is_private_key(&self) -> bool {
        matches!(
            self,
            SecretKind::PrivateKeyBlock
                | SecretKind::OpenSshPrivateKey
                | SecretKind::PgpPrivateKeyBlock
                | SecretKind::PuttyPrivateKey
        )
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One secret found by [`scan`]: where it starts and what it is. The secret
/// itself is deliberately not part of the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretFinding {
    /// 1-based line number of the first character of the secret.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes), of the first
    /// character of the secret.
    pub column: usize,
    /// What was found.
    pub kind: SecretKind,
}

/// Finds every secret in `text`, in order of position.
///
/// Runs in time linear in `text.len()`. See the module documentation for the
/// exact formats.
#[must_use]
pub fn scan(text: &str) -> Vec<SecretFinding> {
    let bytes = text.as_bytes();
    let mut scanner = Scanner::new(bytes);
    let mut found: Vec<(usize, SecretKind)> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        match scanner.match_at(pos) {
            Some((kind, end)) => {
                found.push((pos, kind));
                pos = end.max(pos + 1);
            }
            None => pos += 1,
        }
    }
    to_findings(text, &found)
}

/// Whether `value` looks like a secret and must be redacted before it is
/// echoed in a message.
///
/// True when [`scan`] finds anything in it, when it mentions a private key,
/// or when it is a single random-looking token: at least 16 characters of
/// `[A-Za-z0-9+/=_.~-]` with no whitespace, where letters and digits alternate
/// often (at least 4 letter/digit changes, and at least one per 10
/// characters). Hostnames, paths and resource names such as
/// `lb-prod-eu-west-1` are therefore not flagged; hex digests and UUIDs are.
/// It is a heuristic: a value that is known to be secret must never be
/// echoed, whatever this returns.
#[must_use]
pub fn looks_like_secret(value: &str) -> bool {
    if !scan(value).is_empty() || value.contains("PRIVATE KEY") {
        return true;
    }
    random_token(value.trim())
}

fn random_token(v: &str) -> bool {
    let len = v.len();
    if len < 16 || v.starts_with('/') {
        return false;
    }
    let mut letters = 0usize;
    let mut digits = 0usize;
    let mut changes = 0usize;
    let mut prev: Option<bool> = None; // Some(true) = digit, Some(false) = letter
    for b in v.bytes() {
        let class = if b.is_ascii_digit() {
            digits += 1;
            Some(true)
        } else if b.is_ascii_alphabetic() {
            letters += 1;
            Some(false)
        } else if matches!(b, b'+' | b'/' | b'=' | b'_' | b'.' | b'~' | b'-') {
            None
        } else {
            return false;
        };
        if let (Some(p), Some(c)) = (prev, class) {
            if p != c {
                changes += 1;
            }
        }
        prev = class;
    }
    letters > 0 && digits > 0 && changes >= 4 && changes * 10 >= len
}

// ---------------------------------------------------------------------------
// Matchers
// ---------------------------------------------------------------------------

/// Character classes that variable-length tokens run over.
#[derive(Clone, Copy)]
enum Class {
    /// `[A-Za-z0-9_]`
    Word,
    /// `[A-Za-z0-9_.-]` (GitLab tokens, JSON Web Tokens)
    WordDashDot,
    /// `[A-Za-z0-9-]` (Slack tokens)
    AlnumDash,
    /// `[A-Za-z0-9/]` (Slack webhook paths)
    AlnumSlash,
}

const CLASSES: usize = 4;

impl Class {
    fn index(self) -> usize {
        match self {
            Class::Word => 0,
            Class::WordDashDot => 1,
            Class::AlnumDash => 2,
            Class::AlnumSlash => 3,
        }
    }

    fn contains(self, b: u8) -> bool {
        b.is_ascii_alphanumeric()
            || match self {
                Class::Word => b == b'_',
                Class::WordDashDot => matches!(b, b'_' | b'-' | b'.'),
                Class::AlnumDash => b == b'-',
                Class::AlnumSlash => b == b'/',
            }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

struct Scanner<'a> {
    bytes: &'a [u8],
    /// Per class, the last maximal run that was measured: `[start, end)`.
    /// Queries start at non-decreasing positions, so every byte is examined
    /// at most once per class and [`scan`] stays linear.
    runs: [(usize, usize); CLASSES],
}

impl<'a> Scanner<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Scanner {
            bytes,
            runs: [(0, 0); CLASSES],
        }
    }

    /// End of the run of `class` characters that starts at `from`.
    fn run_end(&mut self, from: usize, class: Class) -> usize {
        let (start, end) = self.runs[class.index()];
        if start <= from && from < end {
            return end;
        }
        let mut e = from;
        while e < self.bytes.len() && class.contains(self.bytes[e]) {
            e += 1;
        }
        self.runs[class.index()] = (from, e);
        e
    }

    fn at(&self, pos: usize, lit: &[u8]) -> bool {
        self.bytes
            .get(pos..pos + lit.len())
            .is_some_and(|s| s == lit)
    }

    /// Exactly `n` bytes satisfying `ok` from `from`, followed by a
    /// non-`continues` byte (or the end). Returns the end position.
    fn fixed(
        &self,
        from: usize,
        n: usize,
        ok: impl Fn(u8) -> bool,
        continues: impl Fn(u8) -> bool,
    ) -> Option<usize> {
        let body = self.bytes.get(from..from + n)?;
        if !body.iter().all(|&b| ok(b)) {
            return None;
        }
        match self.bytes.get(from + n) {
            Some(&b) if continues(b) => None,
            _ => Some(from + n),
        }
    }

    /// At least `min` bytes of `class` from `from`; returns the end.
    fn at_least(&mut self, from: usize, min: usize, class: Class) -> Option<usize> {
        let end = self.run_end(from, class);
        (end - from >= min).then_some(end)
    }

    fn match_at(&mut self, pos: usize) -> Option<(SecretKind, usize)> {
        let b = self.bytes[pos];
        if b == b'-' {
            return self.pem(pos);
        }
        if pos > 0 && is_word(self.bytes[pos - 1]) {
            return None;
        }
        match b {
            b'g' => self.github_gitlab(pos),
            b'x' => self.slack(pos),
            b'h' => self.slack_webhook(pos),
            b'A' => self.aws_google(pos),
            b's' | b'r' => self.stripe(pos),
            b'd' => self.digitalocean(pos),
            b'n' => self.npm(pos),
            b'l' => self.lbops(pos),
            b'e' => self.jwt(pos),
            b'P' => self
                .at(pos, b"PuTTY-User-Key-File-")
                .then_some((SecretKind::PuttyPrivateKey, pos + 20)),
            _ => None,
        }
    }

    fn pem(&self, pos: usize) -> Option<(SecretKind, usize)> {
        const SSH2: &[u8] = b"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----";
        if self.at(pos, SSH2) {
            return Some((SecretKind::PrivateKeyBlock, pos + SSH2.len()));
        }
        const BEGIN: &[u8] = b"-----BEGIN ";
        if !self.at(pos, BEGIN) {
            return None;
        }
        let start = pos + BEGIN.len();
        let mut end = start;
        while end < self.bytes.len()
            && end - start <= 64
            && (self.bytes[end].is_ascii_uppercase()
                || self.bytes[end].is_ascii_digit()
                || self.bytes[end] == b' ')
        {
            end += 1;
        }
        if !self.at(end, b"-----") {
            return None;
        }
        let label = &self.bytes[start..end];
        let kind = match label {
            b"OPENSSH PRIVATE KEY" => SecretKind::OpenSshPrivateKey,
            b"PGP PRIVATE KEY BLOCK" | b"PGP SECRET KEY BLOCK" => SecretKind::PgpPrivateKeyBlock,
            l if l.ends_with(b"PRIVATE KEY") => SecretKind::PrivateKeyBlock,
            _ => return None,
        };
        Some((kind, end + 5))
    }

    fn github_gitlab(&mut self, pos: usize) -> Option<(SecretKind, usize)> {
        if self.at(pos, b"gh")
            && matches!(
                self.bytes.get(pos + 2),
                Some(b'p' | b'o' | b'u' | b's' | b'r')
            )
            && self.bytes.get(pos + 3) == Some(&b'_')
        {
            let end = self.fixed(pos + 4, 36, |b| b.is_ascii_alphanumeric(), is_word)?;
            return Some((SecretKind::GithubToken, end));
        }
        if self.at(pos, b"github_pat_") {
            let end = self.at_least(pos + 11, 22, Class::Word)?;
            return Some((SecretKind::GithubToken, end));
        }
        if self.at(pos, b"glpat-") {
            let mut end = self.run_end(pos + 6, Class::WordDashDot);
            // A sentence-ending full stop is not part of the token.
            while end > pos + 6 && self.bytes[end - 1] == b'.' {
                end -= 1;
            }
            return (end - (pos + 6) >= 20).then_some((SecretKind::GitlabToken, end));
        }
        None
    }

    fn slack(&mut self, pos: usize) -> Option<(SecretKind, usize)> {
        if !self.at(pos, b"xox")
            || !matches!(
                self.bytes.get(pos + 3),
                Some(b'a' | b'b' | b'p' | b'o' | b's' | b'r')
            )
            || self.bytes.get(pos + 4) != Some(&b'-')
        {
            return None;
        }
        let end = self.at_least(pos + 5, 10, Class::AlnumDash)?;
        Some((SecretKind::SlackToken, end))
    }

    fn slack_webhook(&mut self, pos: usize) -> Option<(SecretKind, usize)> {
        const HOOK: &[u8] = b"hooks.slack.com/services/";
        if !self.at(pos, HOOK) {
            return None;
        }
        let end = self.at_least(pos + HOOK.len(), 20, Class::AlnumSlash)?;
        Some((SecretKind::SlackWebhook, end))
    }

    fn aws_google(&self, pos: usize) -> Option<(SecretKind, usize)> {
        if self.at(pos, b"AKIA") || self.at(pos, b"ASIA") {
            let end = self.fixed(
                pos + 4,
                16,
                |b| b.is_ascii_uppercase() || b.is_ascii_digit(),
                is_word,
            )?;
            return Some((SecretKind::AwsAccessKeyId, end));
        }
        if self.at(pos, b"AIza") {
            let key_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
            let end = self.fixed(pos + 4, 35, key_char, key_char)?;
            return Some((SecretKind::GoogleApiKey, end));
        }
        None
    }

    fn stripe(&mut self, pos: usize) -> Option<(SecretKind, usize)> {
        if !(self.at(pos, b"sk_live_") || self.at(pos, b"rk_live_")) {
            return None;
        }
        let end = self.at_least(pos + 8, 16, Class::Word)?;
        Some((SecretKind::StripeKey, end))
    }

    fn digitalocean(&self, pos: usize) -> Option<(SecretKind, usize)> {
        if !(self.at(pos, b"dop_v1_") || self.at(pos, b"doo_v1_") || self.at(pos, b"dor_v1_")) {
            return None;
        }
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        let end = self.fixed(pos + 7, 64, hex, is_word)?;
        Some((SecretKind::DigitalOceanToken, end))
    }

    fn lbops(&self, pos: usize) -> Option<(SecretKind, usize)> {
        use super::api_token::{is_token, PREFIX, TOKEN_LEN};
        if !self.at(pos, PREFIX.as_bytes()) {
            return None;
        }
        let end = pos + TOKEN_LEN;
        let candidate = std::str::from_utf8(self.bytes.get(pos..end)?).ok()?;
        let continues = self.bytes.get(end).is_some_and(|&b| is_word(b));
        (!continues && is_token(candidate)).then_some((SecretKind::LbopsToken, end))
    }

    fn npm(&self, pos: usize) -> Option<(SecretKind, usize)> {
        if !self.at(pos, b"npm_") {
            return None;
        }
        let end = self.fixed(pos + 4, 36, |b| b.is_ascii_alphanumeric(), is_word)?;
        Some((SecretKind::NpmToken, end))
    }

    fn jwt(&mut self, pos: usize) -> Option<(SecretKind, usize)> {
        if !self.at(pos, b"eyJ") {
            return None;
        }
        let mut end = self.run_end(pos, Class::WordDashDot);
        while end > pos && self.bytes[end - 1] == b'.' {
            end -= 1;
        }
        let token = &self.bytes[pos..end];
        let mut parts = token.split(|&b| b == b'.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        let ok = parts.next().is_none()
            && header.len() >= 10
            && payload.len() >= 10
            && payload.starts_with(b"eyJ")
            && signature.len() >= 16;
        ok.then_some((SecretKind::JsonWebToken, end))
    }
}

/// Converts byte offsets (ascending) into 1-based line and character columns.
fn to_findings(text: &str, found: &[(usize, SecretKind)]) -> Vec<SecretFinding> {
    let mut out = Vec::with_capacity(found.len());
    let mut chars = text.char_indices().peekable();
    let (mut line, mut column) = (1usize, 1usize);
    for &(offset, kind) in found {
        while let Some(&(i, c)) = chars.peek() {
            if i >= offset {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
            chars.next();
        }
        out.push(SecretFinding { line, column, kind });
    }
    out
}

#[cfg(test)]
mod tests;
