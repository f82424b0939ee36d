//! Leader election on an etcd lease, and the fencing token that comes
//! with it.
//!
//! A replica campaigns by creating the leader key, attached to a lease of
//! its own, in a transaction that only succeeds when the key does not
//! exist. The key's create revision is the **epoch**: etcd's revisions
//! only grow, so every new leader holds a larger one than every leader
//! before it. The epoch fences the leader's writes: to etcd, every write
//! is a transaction that compares the leader key's create revision with
//! it (a replica whose lease lapsed — the key is gone or another's —
//! writes nothing, whatever it believes); to a data plane, the epoch rides
//! on every config and a node refuses one older than the newest it took.
//!
//! On top of that the leader keeps a local, conservative view of its
//! lease ([`Role::Leader::valid_until`], counted from the moment each
//! renewal was *sent*) and starts no step in the last [`margin`] of it:
//! the guard for a provider that cannot compare an epoch (AWS).

use super::etcd::{Compare, Etcd, EtcdError, LeaseId, Op};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How often a standby looks at the leader key.
pub const STANDBY_POLL: Duration = Duration::from_millis(250);

/// What this replica is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not leading: `leader` is the leader's name, when there is one;
    /// `etcd_error` why etcd could not be asked, when it could not.
    Standby {
        leader: Option<String>,
        etcd_error: Option<String>,
    },
    /// Leading under `epoch` while the lease lasts.
    Leader {
        epoch: u64,
        /// Until when the lease surely holds: the send time of the last
        /// renewal etcd answered, plus the TTL it answered.
        valid_until: Instant,
    },
}

/// The part of the lease in which a leader starts nothing new: a fifth of
/// it, at least a second.
#[must_use]
pub fn margin(ttl: Duration) -> Duration {
    (ttl / 5).max(Duration::from_secs(1))
}

/// A read handle on this replica's role.
#[derive(Clone, Debug)]
pub struct Leadership {
    role: watch::Receiver<Role>,
    ttl: Duration,
}

impl Leadership {
    /// The role as of now.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    /// The epoch to start a step under: `Some` only while leading with
    /// more than the [`margin`] of the lease left at `now`.
    #[must_use]
    pub fn epoch_for_step(&self, now: Instant) -> Option<u64> {
        match *self.role.borrow() {
            Role::Leader { epoch, valid_until } if now + margin(self.ttl) < valid_until => {
                Some(epoch)
            }
            _ => None,
        }
    }

    /// Waits for the role to change; `Err` when the election stopped.
    pub async fn changed(&mut self) -> Result<Role, watch::error::RecvError> {
        self.role.changed().await?;
        Ok(self.role())
    }

    /// A handle fixed at `role`, for tests of what uses it.
    #[must_use]
    pub fn fixed(role: Role, ttl: Duration) -> Self {
        let (_, receiver) = watch::channel(role);
        Leadership {
            role: receiver,
            ttl,
        }
    }
}

/// One replica's candidacy.
pub struct Election {
    pub etcd: Arc<Etcd>,
    /// The leader key, e.g. `/lbops/prod/leader`.
    pub key: Vec<u8>,
    /// This replica's name, the leader key's value while it leads.
    pub name: String,
    pub ttl: Duration,
}

impl Election {
    /// Campaigns until `stop` completes, publishing the role; a leader
    /// that stops revokes its lease, so a standby takes over at once.
    pub fn start(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (Leadership, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = watch::channel(Role::Standby {
            leader: None,
            etcd_error: None,
        });
        let ttl = self.ttl;
        let task = tokio::spawn(async move {
            let leading = std::sync::Mutex::new(None);
            tokio::select! {
                () = self.campaign(&sender, &leading) => {}
                () = stop => {}
            }
            let _ = sender.send(Role::Standby {
                leader: None,
                etcd_error: None,
            });
            let lease = leading.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(lease) = lease {
                if let Err(e) = self.etcd.revoke(lease).await {
                    tracing::warn!(error = %e, "cannot give up the leader lease; a standby takes over when it lapses");
                }
            }
        });
        (
            Leadership {
                role: receiver,
                ttl,
            },
            task,
        )
    }

    /// `leading`: the lease while it backs the leader key, for `start`
    /// to revoke at a clean stop.
    async fn campaign(
        &self,
        role: &watch::Sender<Role>,
        leading: &std::sync::Mutex<Option<LeaseId>>,
    ) {
        let mut held: Option<LeaseId> = None;
        loop {
            match self.try_lead(&mut held).await {
                Ok(Won {
                    epoch,
                    lease,
                    valid_until,
                }) => {
                    *leading.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease);
                    tracing::info!(epoch, replica = %self.name, "leading");
                    let _ = role.send(Role::Leader { epoch, valid_until });
                    let etcd_error = self.hold(lease, epoch, valid_until, role).await;
                    *leading.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    tracing::warn!(epoch, replica = %self.name, "no longer leading");
                    let _ = role.send(Role::Standby {
                        leader: None,
                        etcd_error,
                    });
                }
                Err(lost) => {
                    let next = match lost {
                        Lost::To(leader) => Role::Standby {
                            leader: Some(leader),
                            etcd_error: None,
                        },
                        Lost::Etcd(e) => {
                            tracing::warn!(error = %e, "cannot campaign for leadership");
                            Role::Standby {
                                leader: None,
                                etcd_error: Some(e.to_string()),
                            }
                        }
                    };
                    role.send_if_modified(|r| (*r != next).then(|| *r = next).is_some());
                }
            }
            tokio::time::sleep(STANDBY_POLL).await;
        }
    }

    /// Where this replica is listed: beside the leader key, under
    /// `members/`.
    fn member_key(&self) -> Vec<u8> {
        let mut key = members_prefix(&self.key);
        key.extend_from_slice(self.name.as_bytes());
        key
    }

    /// One attempt: the leader key created under our lease, or who holds it.
    async fn try_lead(&self, held: &mut Option<LeaseId>) -> Result<Won, Lost> {
        let sent = Instant::now();
        // A lease kept from the last attempt, if etcd still has it: it may
        // back our own leader key, when etcd was away for a moment.
        if let Some(lease) = *held {
            if self
                .etcd
                .keep_alive(lease)
                .await
                .map_err(Lost::Etcd)?
                .is_none()
            {
                *held = None;
            }
        }
        let lease = match *held {
            Some(lease) => lease,
            None => {
                let lease = self.etcd.grant(self.ttl).await.map_err(Lost::Etcd)?;
                // This replica is listed while its lease lives.
                let listed = Op::Put {
                    key: self.member_key(),
                    value: self.name.clone().into_bytes(),
                    lease: Some(lease),
                };
                self.etcd
                    .txn(&[], &[listed], &[])
                    .await
                    .map_err(Lost::Etcd)?;
                *held = Some(lease);
                lease
            }
        };
        let result = self
            .etcd
            .txn(
                &[Compare::CreateRevision {
                    key: self.key.clone(),
                    equals: 0,
                }],
                &[Op::Put {
                    key: self.key.clone(),
                    value: self.name.clone().into_bytes(),
                    lease: Some(lease),
                }],
                &[Op::Get {
                    key: self.key.clone(),
                }],
            )
            .await
            .map_err(Lost::Etcd)?;
        if result.succeeded {
            // The put's revision is the key's create revision: the epoch.
            return Ok(Won {
                epoch: u64::try_from(result.revision).unwrap_or(0),
                lease,
                valid_until: sent + self.ttl,
            });
        }
        let found = result.found.into_iter().flatten().next();
        // Our own key, under our live lease: we lead still (etcd was away
        // for less than the lease).
        if let Some(kv) = found.as_ref().filter(|kv| kv.lease == lease.0) {
            return Ok(Won {
                epoch: u64::try_from(kv.create_revision).unwrap_or(0),
                lease,
                valid_until: sent + self.ttl,
            });
        }
        let leader = found
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
            .unwrap_or_default();
        Err(Lost::To(leader))
    }

    /// Renews the lease every third of its TTL until a renewal fails for
    /// longer than the lease can be trusted (returns why), or etcd says it
    /// is gone (returns `None`).
    async fn hold(
        &self,
        lease: LeaseId,
        epoch: u64,
        mut valid_until: Instant,
        role: &watch::Sender<Role>,
    ) -> Option<String> {
        let mut wait = self.ttl / 3;
        loop {
            tokio::time::sleep(wait).await;
            let sent = Instant::now();
            match self.etcd.keep_alive(lease).await {
                Ok(Some(ttl)) => {
                    valid_until = sent + ttl;
                    wait = self.ttl / 3;
                    let _ = role.send(Role::Leader { epoch, valid_until });
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the leader lease");
                    if Instant::now() + margin(self.ttl) >= valid_until {
                        return Some(e.to_string());
                    }
                    // Sooner than usual: the margin must not pass unseen.
                    wait = STANDBY_POLL;
                }
            }
        }
    }
}

/// The prefix the replicas are listed under, beside `leader_key`.
#[must_use]
pub fn members_prefix(leader_key: &[u8]) -> Vec<u8> {
    let base = leader_key.strip_suffix(b"leader").unwrap_or(leader_key);
    let mut prefix = base.to_vec();
    prefix.extend_from_slice(b"members/");
    prefix
}

struct Won {
    epoch: u64,
    lease: LeaseId,
    valid_until: Instant,
}

enum Lost {
    To(String),
    Etcd(EtcdError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_starts_no_step_in_the_last_part_of_its_lease() {
        let ttl = Duration::from_secs(10);
        let now = Instant::now();
        let leading = |left: Duration| {
            Leadership::fixed(
                Role::Leader {
                    epoch: 7,
                    valid_until: now + left,
                },
                ttl,
            )
        };
        assert_eq!(leading(Duration::from_secs(9)).epoch_for_step(now), Some(7));
        assert_eq!(leading(Duration::from_secs(2)).epoch_for_step(now), None);
        assert_eq!(leading(Duration::ZERO).epoch_for_step(now), None);
        let standby = Leadership::fixed(
            Role::Standby {
                leader: None,
                etcd_error: None,
            },
            ttl,
        );
        assert_eq!(standby.epoch_for_step(now), None);
        assert_eq!(margin(Duration::from_secs(2)), Duration::from_secs(1));
    }
}
