//! The estate: every balancer with its listeners, routes, pools and
//! targets as it runs now — a left-to-right topology picture beside the
//! same in tables, health, weights and traffic split, live figures with
//! 15-minute sparklines, drift on the drifted element, and the commit
//! that last changed each element. `GET /estate` (the page),
//! `GET /v1/estate` (the same view model as JSON) and `lbops status`
//! (the same as a terminal tree) show one [`model::Estate`].
//!
//! * [`model`]: the view model; [`build`](mod@build): it from values (pure);
//! * [`figures`]: the sampled rings behind the live figures;
//! * [`history`]: which commit last changed what, from the journal;
//! * [`render`] and [`svg`]: the page (pure); [`tree`]: `lbops status`'s
//!   terminal tree (pure).
//!
//! Reading needs `state.read`: through the API as any read; on the page,
//! a signed-in person holding it when OIDC is configured (without OIDC
//! the pages are open to whoever reaches them, as every page is).

pub mod build;
pub mod figures;
pub mod history;
pub mod model;
mod page;
pub mod render;
pub mod svg;
pub mod tree;

#[cfg(test)]
mod tests;

pub(super) use page::page;

use crate::daemon::api::Live;
use crate::daemon::journal::{Journal, REMEMBERED};
use crate::daemon::trusted::Trusted;
use crate::spec::kinds::{Kind, Labels};
use crate::spec::units::Name;
use figures::FigureBook;
use std::sync::Arc;

/// What the estate reads besides the trusted view and the provider.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub figures: Arc<FigureBook>,
    pub journal: Arc<Journal>,
}

/// The estate now, as `may_read` lets the caller see it: the provider
/// observed (health, drift) and each target's load read.
pub async fn current(
    live: &Live,
    trusted: &Trusted,
    sources: &Sources,
    may_read: &(dyn Fn(Kind, &Name, &Labels) -> bool + Sync),
) -> model::Estate {
    let view = trusted.load();
    let (observed, loads) = tokio::join!(live.observed(), live.loads());
    let changes = history::last_changes(&sources.journal.recent(REMEMBERED));
    let commit = view.as_ref().map(|v| v.commit.to_string());
    let provider_of = |id: &crate::spec::kinds::ResourceId| live.provider_of(id);
    sources.figures.read(|book| {
        build::build(&build::Inputs {
            trusted: view
                .as_ref()
                .zip(commit.as_deref())
                .map(|(v, c)| (c, v.catalog.as_ref())),
            observed: observed.as_deref(),
            loads: &loads,
            figures: Some(book),
            changes: &changes,
            provider_of: &provider_of,
            may_read,
            sample_seconds: figures::SAMPLE_EVERY.as_secs() as u32,
        })
    })
}

/// Samples every target's counters into `figures` every
/// [`figures::SAMPLE_EVERY`], for as long as the daemon runs.
pub async fn sample(live: Arc<Live>, trusted: Trusted, figures: Arc<FigureBook>) {
    let mut tick = tokio::time::interval(figures::SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let Some(view) = trusted.load() else {
            continue;
        };
        let loads = live.loads().await;
        let now = tokio::time::Instant::now();
        let seconds = now.duration_since(last).as_secs_f64();
        last = now;
        figures.record(&loads, &view.catalog, seconds);
    }
}
