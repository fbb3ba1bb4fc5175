//! A tiny TCP proxy for the scale-out tests: round-robin over its backends with no affinity (a
//! load balancer in front of several instances), and a switch that cuts every connection and
//! refuses new ones (a database that is gone, without stopping the PostgreSQL other tests share).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

struct State {
    backends: Vec<SocketAddr>,
    next: AtomicUsize,
    /// Connections relayed to each backend.
    relayed: Vec<AtomicUsize>,
    /// `false`: every relayed connection is cut and new ones are closed at once.
    open: watch::Sender<bool>,
    /// Local ports of the upstream connections, so that a test can find them on the backend
    /// (PostgreSQL's `pg_stat_activity.client_port`).
    upstream_ports: Mutex<BTreeSet<u16>>,
}

pub struct TcpProxy {
    pub address: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.state.open.send_replace(false);
    }
}

impl TcpProxy {
    /// Listens on a free loopback port; connection `n` goes to `backends[n % len]`.
    pub async fn start(backends: Vec<SocketAddr>) -> Self {
        assert!(!backends.is_empty(), "a proxy needs a backend");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let state = Arc::new(State {
            relayed: backends.iter().map(|_| AtomicUsize::new(0)).collect(),
            backends,
            next: AtomicUsize::new(0),
            open: watch::Sender::new(true),
            upstream_ports: Mutex::new(BTreeSet::new()),
        });
        let task = tokio::spawn(accept(listener, Arc::clone(&state)));
        Self {
            address,
            state,
            task,
        }
    }

    /// Cuts every relayed connection and closes new ones at once (`false`), or relays again.
    pub fn set_open(&self, open: bool) {
        self.state.open.send_replace(open);
    }

    /// How many connections went to each backend.
    pub fn relayed(&self) -> Vec<usize> {
        self.state
            .relayed
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .collect()
    }

    /// The local ports of every upstream connection opened so far.
    pub fn upstream_ports(&self) -> Vec<u16> {
        self.state
            .upstream_ports
            .lock()
            .expect("ports")
            .iter()
            .copied()
            .collect()
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    while let Ok((client, _)) = listener.accept().await {
        if !*state.open.borrow() {
            drop(client);
            continue;
        }
        let index = state.next.fetch_add(1, Ordering::Relaxed) % state.backends.len();
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(state.backends[index]).await else {
                return;
            };
            state.relayed[index].fetch_add(1, Ordering::Relaxed);
            if let Ok(local) = upstream.local_addr() {
                state
                    .upstream_ports
                    .lock()
                    .expect("ports")
                    .insert(local.port());
            }
            relay(client, upstream, state.open.subscribe()).await;
        });
    }
}

/// Copies both ways until either side closes or the proxy is switched off, then closes both:
/// a client that hangs up is seen by the backend at once, as behind a real balancer.
async fn relay(client: TcpStream, upstream: TcpStream, mut open: watch::Receiver<bool>) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    tokio::select! {
        _ = tokio::io::copy(&mut client_read, &mut upstream_write) => {}
        _ = tokio::io::copy(&mut upstream_read, &mut client_write) => {}
        _ = open.wait_for(|open| !*open) => {}
    }
}
