//! The audit log's writer: events are queued without waiting and written in batches by one
//! background task, so recording a pull costs a channel send, not a database transaction.
//!
//! Readers call [`AuditSink::flush`] first, which waits until everything queued before it is
//! stored, so a log read right after an action shows it. If the queue is full (the database
//! far behind a flood of pulls) events are dropped, counted and reported in the server log
//! rather than slowing every request down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_meta::IdentityStore;
use berth_meta::identity::AuditRecord;
use tokio::sync::{mpsc, oneshot};

const QUEUE: usize = 65_536;
const BATCH: usize = 512;

enum Msg {
    Record(AuditRecord),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl AuditSink {
    /// Starts the writer on the current tokio runtime.
    pub fn start(store: Arc<dyn IdentityStore>) -> AuditSink {
        let (tx, mut rx) = mpsc::channel::<Msg>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            let mut waiters = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(msg) = next.take() {
                    match msg {
                        Msg::Record(r) => batch.push(r),
                        Msg::Flush(w) => waiters.push(w),
                    }
                    if batch.len() < BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if !batch.is_empty() {
                    let n = batch.len();
                    if let Err(e) = store.append_audit(std::mem::take(&mut batch)).await {
                        tracing::error!(error = %e, lost = n, "could not write audit log entries");
                    }
                }
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
            }
        });
        AuditSink { tx, dropped }
    }

    pub fn record(&self, record: AuditRecord) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(Msg::Record(record)) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "audit log queue full; entries dropped");
            }
        }
    }

    /// Waits until every event recorded before this call is stored.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
