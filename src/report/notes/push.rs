//! Publishing the notes ref to the remote. A push the remote refuses as
//! not fast-forward (someone else pushed notes meanwhile) fetches their
//! notes, re-applies ours on top (see [`super::merge`]) and tries once
//! more. A ref `refs/lbops/pushed/…` remembers what the remote was last
//! seen holding, so an unchanged note costs no network round trip.

use super::error::NotesError;
use super::merge::reapply;
use super::store::Store;
use super::PushTarget;
use crate::source::auth::{credential_callbacks, redact_url};
use git2::{ErrorCode, Oid, Signature};
use std::collections::BTreeSet;

/// What the remote said to one push.
enum Sent {
    Accepted,
    /// Not a fast-forward, or refused by the remote; with its reason.
    Refused(String),
}

/// The local ref that remembers the remote's notes ref.
fn remembered(notes_ref: &str) -> String {
    format!(
        "refs/lbops/pushed/{}",
        notes_ref.strip_prefix("refs/").unwrap_or(notes_ref)
    )
}

/// Makes the remote's notes ref hold everything the local one does.
pub(super) fn publish(
    store: &Store<'_>,
    target: &PushTarget,
    author: &Signature<'_>,
) -> Result<(), NotesError> {
    let Some(local) = store.head()? else {
        return Ok(());
    };
    let remembered = remembered(store.notes_ref);
    if store.ref_target(&remembered)? == Some(local) {
        return Ok(());
    }
    if let Sent::Refused(first) = send(store, target)? {
        tracing::info!(
            notes_ref = store.notes_ref,
            url = %redact_url(&target.url),
            reason = %first,
            "the remote refused our notes; merging with theirs"
        );
        if let Some(theirs) = fetch(store, target, &remembered)? {
            rebase(store, local, theirs, author)?;
        }
        if let Sent::Refused(message) = send(store, target)? {
            return Err(NotesError::Rejected {
                notes_ref: store.notes_ref.to_owned(),
                url: redact_url(&target.url),
                message,
            });
        }
    }
    if let Some(pushed) = store.head()? {
        store
            .repo
            .reference(&remembered, pushed, true, "lbops: pushed notes")
            .map_err(|e| store.error("remember the pushed notes", &e))?;
    }
    Ok(())
}

/// One push of the notes ref, without force.
fn send(store: &Store<'_>, target: &PushTarget) -> Result<Sent, NotesError> {
    let push_error = |message: String| NotesError::Push {
        notes_ref: store.notes_ref.to_owned(),
        url: redact_url(&target.url),
        message,
    };
    let mut secret_error = None;
    let mut refused = None;
    let mut callbacks = credential_callbacks(target.credentials.as_ref(), &mut secret_error);
    callbacks.push_update_reference(|_name, status| {
        if let Some(status) = status {
            refused = Some(status.to_owned());
        }
        Ok(())
    });
    let mut options = git2::PushOptions::new();
    options.remote_callbacks(callbacks);
    let refspec = format!("{0}:{0}", store.notes_ref);
    let mut remote = store
        .repo
        .remote_anonymous(&target.url)
        .map_err(|e| push_error(e.message().to_owned()))?;
    let pushed = remote.push(&[&refspec], Some(&mut options));
    drop(options);
    if let Some(e) = secret_error {
        return Err(NotesError::Credentials(e));
    }
    match pushed {
        Err(e) if e.code() == ErrorCode::NotFastForward => {
            Ok(Sent::Refused(e.message().to_owned()))
        }
        Err(e) => Err(push_error(e.message().to_owned())),
        Ok(()) => Ok(match refused {
            Some(reason) => Sent::Refused(reason),
            None => Sent::Accepted,
        }),
    }
}

/// Fetches the remote's notes ref into `into`; what it points at after.
fn fetch(store: &Store<'_>, target: &PushTarget, into: &str) -> Result<Option<Oid>, NotesError> {
    let fetch_error = |message: String| NotesError::Fetch {
        notes_ref: store.notes_ref.to_owned(),
        url: redact_url(&target.url),
        message,
    };
    let mut secret_error = None;
    let callbacks = credential_callbacks(target.credentials.as_ref(), &mut secret_error);
    let mut options = git2::FetchOptions::new();
    options.remote_callbacks(callbacks);
    let refspec = format!("+{}:{into}", store.notes_ref);
    let mut remote = store
        .repo
        .remote_anonymous(&target.url)
        .map_err(|e| fetch_error(e.message().to_owned()))?;
    let fetched = remote.fetch(&[&refspec], Some(&mut options), None);
    drop(options);
    if let Some(e) = secret_error {
        return Err(NotesError::Credentials(e));
    }
    fetched.map_err(|e| fetch_error(e.message().to_owned()))?;
    store.ref_target(into)
}

/// Moves the local notes ref from `ours` to `theirs` and writes again,
/// on top, every note that changed since the two parted.
fn rebase(
    store: &Store<'_>,
    ours: Oid,
    theirs: Oid,
    author: &Signature<'_>,
) -> Result<(), NotesError> {
    let base = match store.repo.merge_base(ours, theirs) {
        Ok(base) => Some(base),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(store.error("compare our notes with theirs", &e)),
    };
    let base_notes = store.notes_at(base)?;
    let our_notes = store.notes_at(Some(ours))?;
    let changed: BTreeSet<Oid> = base_notes
        .keys()
        .chain(our_notes.keys())
        .filter(|commit| base_notes.get(commit) != our_notes.get(commit))
        .copied()
        .collect();
    store
        .repo
        .reference_matching(
            store.notes_ref,
            theirs,
            true,
            ours,
            "lbops: take the remote's notes, then re-apply ours",
        )
        .map_err(|e| store.error("move the notes ref to the remote's", &e))?;
    for commit in changed {
        let text = |notes: &std::collections::BTreeMap<Oid, String>| {
            notes.get(&commit).cloned().unwrap_or_default()
        };
        let their_text = store.read(commit)?.unwrap_or_default();
        let merged = reapply(&text(&base_notes), &text(&our_notes), &their_text);
        store.write(commit, &merged, author)?;
    }
    Ok(())
}
