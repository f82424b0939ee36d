//! Finding, from git alone, the commit an API request made: a daemon
//! that stopped between moving the branch and recording the commit asks
//! here when the request is retried, and answers with that commit rather
//! than making a second one.

use super::{CommitId, CommitInfo, GitError, GitSource};
use crate::spec::api_commit::{ApiTrailers, RequestId};
use git2::Sort;

impl GitSource {
    /// The first commit reachable from `head` and not from `since` (the
    /// branch head before the request) whose API trailers name `request`
    /// and that `made_by` accepts (the daemon checks its own signature and
    /// the token). Oldest first, since the request's commit was made soon
    /// after `since`; at most `max` commits are read. Without `since` (or
    /// with one this repository lacks), newest first from `head`.
    pub fn find_request(
        &self,
        since: Option<CommitId>,
        head: CommitId,
        request: &RequestId,
        max: usize,
        made_by: &dyn Fn(&CommitInfo, &ApiTrailers) -> bool,
    ) -> Result<Option<CommitId>, GitError> {
        let since = since.filter(|s| self.repo.find_commit(s.0).is_ok());
        let mut walk = self.repo.revwalk()?;
        walk.set_sorting(match since {
            Some(_) => Sort::TOPOLOGICAL | Sort::REVERSE,
            None => Sort::TOPOLOGICAL,
        })?;
        walk.push(head.0)?;
        if let Some(since) = since {
            walk.hide(since.0)?;
        }
        for oid in walk.take(max) {
            let info = self.commit(CommitId(oid?))?;
            let Ok(trailers) = ApiTrailers::from_signed(&info.signed_data) else {
                continue;
            };
            if &trailers.request == request && made_by(&info, &trailers) {
                return Ok(Some(info.id));
            }
        }
        Ok(None)
    }
}
