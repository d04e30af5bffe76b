//! Group commit for ticket events. Queue systems post one event per request, and one SQLite
//! transaction per event caps ingestion at a few thousand events a second on a small machine.
//! Requests instead hand their events to one writer task, which takes everything queued at that
//! moment and stores it in a single transaction; each request still gets its own per-record
//! results, and nothing is acknowledged before it is committed.

use tokio::sync::{mpsc, oneshot};

use super::{Ingested, Store, StoreError};
use crate::service::TicketEvent;

/// Most events written in one transaction; more wait for the next one.
const MAX_GROUP_EVENTS: usize = 5_000;

type Reply = oneshot::Sender<Result<Vec<Ingested>, String>>;

struct Job {
    source: String,
    events: Vec<TicketEvent>,
    reply: Reply,
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct TicketWriter {
    tx: mpsc::Sender<Job>,
}

impl TicketWriter {
    /// Starts the writer task on the current runtime; it ends when every handle is dropped.
    pub fn spawn(store: Store) -> TicketWriter {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(write_loop(store, rx));
        TicketWriter { tx }
    }

    /// Stores `events` from `source`, committed together with whatever else is queued.
    pub async fn ingest(&self, source: &str, events: Vec<TicketEvent>) -> Result<Vec<Ingested>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { source: source.to_owned(), events, reply };
        self.tx.send(job).await.map_err(|_| StoreError::Writer("the ticket writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Writer("the ticket writer stopped before answering".into()))?
            .map_err(StoreError::Writer)
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let mut n = jobs[0].events.len();
        while n < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(j) => {
                    n += j.events.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let batches: Vec<(&str, &[TicketEvent])> = jobs.iter().map(|j| (j.source.as_str(), j.events.as_slice())).collect();
        match store.ingest_ticket_batches(&batches).await {
            Ok(results) => {
                for (job, r) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(Ok(r));
                }
            }
            Err(e) => {
                tracing::error!(requests = jobs.len(), events = n, "ticket events not stored: {e}");
                let msg = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(msg.clone()));
                }
            }
        }
    }
}
