//! Answering a remote's request for credentials, shared by everything
//! that talks to a remote repository (fetching the watched branch,
//! pushing status notes). Secrets are read at the moment of use and
//! never kept or shown.

use super::credentials::{Credentials, SecretError};

/// Remote callbacks that answer libgit2's credential requests from
/// `credentials`, once: a second request means the remote refused them,
/// and the callback gives up rather than loop. When a token or passphrase
/// cannot be read, the reason lands in `secret_error` so the caller can
/// report it instead of libgit2's generic failure.
///
/// More callbacks (e.g. `push_update_reference`) may be added to the
/// returned value.
pub(crate) fn credential_callbacks<'a>(
    credentials: Option<&'a Credentials>,
    secret_error: &'a mut Option<SecretError>,
) -> git2::RemoteCallbacks<'a> {
    let mut attempts = 0;
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.credentials(move |_url, username_from_url, _allowed| {
        attempts += 1;
        if attempts > 1 {
            return Err(git2::Error::from_str(
                "the remote refused the credentials; check the token or key and its access to this repository",
            ));
        }
        match credentials {
            None => Err(git2::Error::from_str(
                "the remote asks for credentials and the config gives none",
            )),
            Some(Credentials::Token { username, token }) => match token.read() {
                Ok(secret) => git2::Cred::userpass_plaintext(username, secret.expose()),
                Err(e) => {
                    *secret_error = Some(e);
                    Err(git2::Error::from_str("unreadable token"))
                }
            },
            Some(Credentials::SshKey {
                username,
                private_key,
                passphrase,
            }) => {
                let passphrase = match passphrase.as_ref().map(|p| p.read()).transpose() {
                    Ok(p) => p,
                    Err(e) => {
                        *secret_error = Some(e);
                        return Err(git2::Error::from_str("unreadable passphrase"));
                    }
                };
                git2::Cred::ssh_key(
                    username_from_url.unwrap_or(username),
                    None,
                    private_key,
                    passphrase.as_ref().map(|p| p.expose()),
                )
            }
        }
    });
    callbacks
}

/// A URL as it may be shown: any `user:password@` part removed.
pub(crate) fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((userinfo, host)) if !userinfo.contains('/') => format!("{scheme}://{host}"),
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// `text` (a libgit2 message, which may quote the URL it was given or was
/// redirected to) with `url`'s `user:password@` part removed wherever it
/// appears, and its password on its own too.
pub(crate) fn redact_userinfo(text: &str, url: &str) -> String {
    let Some(userinfo) = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(userinfo, _)| userinfo)
        .filter(|userinfo| !userinfo.contains('/') && !userinfo.is_empty())
    else {
        return text.to_owned();
    };
    let text = text.replace(&format!("{userinfo}@"), "");
    match userinfo.split_once(':') {
        Some((_, password)) if !password.is_empty() => text.replace(password, "<redacted>"),
        _ => text,
    }
}
