//! Why [`verify`](super::verify) refused a webhook request. Messages name
//! headers, never their values: a signature or token must not reach a log
//! line or a response.

/// Why a webhook request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not proven to come from someone holding the secret: `401`, and
    /// nothing happens.
    #[error(transparent)]
    Unauthorized(#[from] Unauthorized),
    /// Proven, but it does not say anything usable: `400`.
    #[error(transparent)]
    BadRequest(#[from] BadRequest),
}

/// Why a request is not trusted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unauthorized {
    #[error(
        "no webhook secret is configured, so no request can be trusted: \
         give lbops the secret that the forge's webhook is set up with"
    )]
    NoSecret,
    #[error(
        "not a GitHub, GitLab, Gitea, Forgejo or Bitbucket webhook (no X-GitHub-Event, \
         X-Gitlab-Event, X-Gitea-Event, X-Forgejo-Event or X-Event-Key header): send push \
         events from the forge's webhook settings"
    )]
    UnknownSender,
    #[error("{header} is missing: set a secret on the forge's webhook, the same one lbops reads")]
    MissingSignature { header: &'static str },
    #[error("{header} is sent more than once: a request may carry one")]
    DuplicateHeader { header: &'static str },
    #[error("{header} is malformed: expected {expected}")]
    MalformedSignature {
        header: &'static str,
        expected: &'static str,
    },
    #[error(
        "{header} does not match the body: set the webhook's secret on the forge \
         to the one lbops reads"
    )]
    WrongSignature { header: &'static str },
    #[error(
        "{header} is not the webhook secret: set the webhook's secret token on the forge \
         to the one lbops reads"
    )]
    WrongToken { header: &'static str },
}

/// Why a verified request cannot be acted on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    #[error("{header} is missing: the forge names the event in it")]
    MissingEvent { header: &'static str },
    #[error("{header} is sent more than once: a request names one event")]
    DuplicateEvent { header: &'static str },
    #[error("{header} is not text")]
    EventNotText { header: &'static str },
    #[error(
        "the push payload is not JSON ({0}): set the webhook's content type to application/json"
    )]
    NotJson(String),
    #[error("the push payload's `{field}` is not {expected}")]
    BadField {
        field: &'static str,
        expected: &'static str,
    },
    #[error("{header} is sent more than once: a delivery has one id")]
    DuplicateDelivery { header: &'static str },
    #[error("{header} is not a delivery id: the forge sends a UUID (visible ASCII, at most {max} characters)")]
    BadDelivery { header: &'static str, max: usize },
}
