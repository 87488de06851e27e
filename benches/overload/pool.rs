//! The generator's connections. HTTP/1 carries one request at a time per
//! connection, so an open-loop generator needs one connection per request
//! in flight: a pool opened before the load starts. A request that finds
//! no free connection is not sent, and counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use crate::client::{Connection, connect};

/// Idle connections, ready for a request.
pub(crate) struct Pool {
    addr: SocketAddr,
    idle: Mutex<Vec<Connection>>,
    /// Connections that could not be opened (the server out of file
    /// descriptors, say).
    failed_opens: AtomicU64,
}

impl Pool {
    /// Opens `size` connections to `addr`, a batch at a time so the
    /// server's accept backlog never overflows.
    pub(crate) async fn open(addr: SocketAddr, size: usize) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            addr,
            idle: Mutex::new(Vec::with_capacity(size)),
            failed_opens: AtomicU64::new(0),
        });
        let mut opening = JoinSet::new();
        for _ in 0..size {
            if opening.len() >= 128 {
                opening.join_next().await;
            }
            let pool = pool.clone();
            opening.spawn(async move { pool.open_one().await });
        }
        opening.join_all().await;
        pool
    }

    /// An idle connection, if there is one.
    pub(crate) fn take(&self) -> Option<Connection> {
        self.idle.lock().expect("not poisoned").pop()
    }

    /// Returns a connection whose last answer was read in full.
    pub(crate) fn put_back(&self, connection: Connection) {
        self.idle.lock().expect("not poisoned").push(connection);
    }

    /// Opens a connection in the background to replace one that was
    /// closed (after a client timeout, as a real client closes it).
    pub(crate) fn replace(self: &Arc<Self>) {
        let pool = self.clone();
        tokio::spawn(async move { pool.open_one().await });
    }

    pub(crate) fn failed_opens(&self) -> u64 {
        self.failed_opens.load(Ordering::Relaxed)
    }

    async fn open_one(&self) {
        for attempt in 0..3 {
            match connect(self.addr).await {
                Ok(connection) => return self.put_back(connection),
                Err(_) => tokio::time::sleep(Duration::from_millis(10 << attempt)).await,
            }
        }
        self.failed_opens.fetch_add(1, Ordering::Relaxed);
    }
}
