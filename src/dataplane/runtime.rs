//! One config version compiled for serving: listeners by socket address
//! with their routers, pools with their run-time state. Swapped atomically
//! as a whole; target state is carried over from the previous one.

use super::config::DataplaneConfig;
use super::pool::{PoolState, TargetState};
use super::routing::Router;
use super::tls::TlsConfigs;
use crate::spec::kinds::loadbalancer::{Listener, Protocol};
use crate::spec::units::{Name, TargetAddr};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A listener as served: which balancer and listener it is, and its routes.
#[derive(Debug)]
pub struct ServedListener {
    pub balancer: Name,
    pub listener: Listener,
    pub router: Router,
    turns: AtomicU64,
}

impl ServedListener {
    /// Counts requests, for weighted turns between the pools of a forward.
    pub fn next_turn(&self) -> u64 {
        self.turns.fetch_add(1, Ordering::Relaxed)
    }

    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.listener.protocol.value
    }
}

/// Everything needed to serve one config version.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub config: DataplaneConfig,
    pub listeners: HashMap<SocketAddr, Arc<ServedListener>>,
    pub pools: HashMap<Name, Arc<PoolState>>,
    /// The rustls configs of its `https` and `tls` listeners, set by
    /// `Dataplane::apply` (loading keys can fail; compiling cannot).
    pub tls: TlsConfigs,
}

impl Snapshot {
    /// Compiles `config`, keeping the target state `previous` had.
    #[must_use]
    pub fn compile(config: DataplaneConfig, previous: &Snapshot) -> Self {
        // Target state is per pool: two pools listing one address keep
        // their own weights and counts.
        let pools = config
            .pools
            .iter()
            .map(|(name, spec)| {
                let known: HashMap<TargetAddr, Arc<TargetState>> = previous
                    .pools
                    .get(name)
                    .map(|p| {
                        p.targets()
                            .map(|t| (t.address.clone(), t.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut pool = PoolState::new(spec, &known);
                if let Some(before) = previous.pools.get(name) {
                    pool = pool.with_retry_budget_of(before);
                }
                (name.clone(), Arc::new(pool))
            })
            .collect();
        let mut listeners = HashMap::new();
        for (balancer, lb) in &config.load_balancers {
            for listener in &lb.spec.listeners {
                let Ok(port) = u16::try_from(listener.port.value) else {
                    continue;
                };
                for ip in &lb.addresses {
                    let served = ServedListener {
                        balancer: balancer.clone(),
                        listener: listener.clone(),
                        router: Router::new(listener),
                        turns: AtomicU64::new(0),
                    };
                    listeners.insert(SocketAddr::new(*ip, port), Arc::new(served));
                }
            }
        }
        Self {
            config,
            listeners,
            pools,
            tls: TlsConfigs::default(),
        }
    }
}
