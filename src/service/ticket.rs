//! Ticket history → tickets and transactions.
//!
//! The projection is a pure fold over a ticket's events sorted by time, so it gives the same
//! answer whatever order the events arrived in: the store simply recomputes a ticket whenever
//! one of its events lands.

use serde::Serialize;

use super::{TicketEvent, TicketEventKind};
use crate::time::WallUs;

/// Where a ticket (or one of its transactions) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// In the queue, not called yet.
    Waiting,
    /// Called, not yet at the counter.
    Called,
    /// Being served.
    Serving,
    /// Service finished.
    Served,
    /// Called and never came (bỏ qua).
    NoShow,
    /// Removed before service (bỏ về, or cancelled by staff).
    Removed,
    /// Sent to another queue; only ever the outcome of a transaction, not of a ticket.
    Transferred,
}

impl Outcome {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Waiting => "waiting",
            Outcome::Called => "called",
            Outcome::Serving => "serving",
            Outcome::Served => "served",
            Outcome::NoShow => "no_show",
            Outcome::Removed => "removed",
            Outcome::Transferred => "transferred",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "waiting" => Outcome::Waiting,
            "called" => Outcome::Called,
            "serving" => Outcome::Serving,
            "served" => Outcome::Served,
            "no_show" => Outcome::NoShow,
            "removed" => Outcome::Removed,
            "transferred" => Outcome::Transferred,
            _ => return None,
        })
    }

    /// Whether the ticket is done with this queue.
    pub fn is_final(self) -> bool {
        matches!(self, Outcome::Served | Outcome::NoShow | Outcome::Removed | Outcome::Transferred)
    }
}

/// One stay of a ticket in one queue (a transfer opens the next).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transaction {
    /// 0 for the queue the ticket was issued for, then 1, 2… per transfer.
    pub seq: i64,
    /// Field code of the queue.
    pub field: Option<String>,
    /// Counter that called or served it (or was assigned).
    pub counter: Option<i64>,
    /// Officer at that counter.
    pub officer: Option<String>,
    /// Joined this queue (issue or transfer).
    pub queued_us: Option<WallUs>,
    /// First call.
    pub first_called_us: Option<WallUs>,
    /// Last call (recalls move it): waits are measured to it, as Qmatic does.
    pub last_called_us: Option<WallUs>,
    /// Calls, including recalls.
    pub calls: i64,
    /// Citizen reached the counter.
    pub service_start_us: Option<WallUs>,
    /// Finished, no-show, removed or transferred.
    pub end_us: Option<WallUs>,
    /// How it stands.
    pub outcome: Outcome,
}

impl Transaction {
    /// Waiting time (thời gian chờ): last call − joined the queue.
    pub fn wait_us(&self) -> Option<i64> {
        Some(self.last_called_us? - self.queued_us?)
    }

    /// Service time (thời gian phục vụ tại quầy): end − last call, for transactions that
    /// reached service (served, or served then transferred).
    pub fn service_us(&self) -> Option<i64> {
        if !matches!(self.outcome, Outcome::Served | Outcome::Transferred) {
            return None;
        }
        let start = self.last_called_us.or(self.service_start_us)?;
        Some(self.end_us? - start)
    }
}

/// The ticket as a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    /// Hall.
    pub hall: String,
    /// Source ticket id.
    pub ticket_id: String,
    /// Displayed number.
    pub number: Option<String>,
    /// Field it was issued for.
    pub field: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Priority.
    pub priority: Option<i64>,
    /// Issue time (None until the `issued` event arrives).
    pub issued_us: Option<WallUs>,
    /// First call of the first transaction.
    pub first_called_us: Option<WallUs>,
    /// End of service, when served.
    pub finished_us: Option<WallUs>,
    /// Last counter.
    pub counter: Option<i64>,
    /// Last officer.
    pub officer: Option<String>,
    /// Outcome of the last transaction.
    pub outcome: Outcome,
    /// Calls over all transactions.
    pub calls: i64,
    /// Transfers.
    pub transfers: i64,
}

/// A ticket and its transactions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    /// The ticket.
    pub ticket: Ticket,
    /// Its transactions, by `seq`.
    pub transactions: Vec<Transaction>,
}

/// Lifecycle rank, so events with equal timestamps (common: second-resolution QMS clocks)
/// fold in the order they must have happened.
fn rank(k: TicketEventKind) -> u8 {
    match k {
        TicketEventKind::Issued => 0,
        TicketEventKind::Called => 1,
        TicketEventKind::ServiceStarted => 2,
        TicketEventKind::Finished | TicketEventKind::NoShow | TicketEventKind::Removed => 3,
        TicketEventKind::Transferred => 4,
    }
}

fn new_transaction(seq: i64, queued_us: Option<WallUs>, field: Option<String>, counter: Option<i64>) -> Transaction {
    Transaction {
        seq,
        field,
        counter,
        officer: None,
        queued_us,
        first_called_us: None,
        last_called_us: None,
        calls: 0,
        service_start_us: None,
        end_us: None,
        outcome: Outcome::Waiting,
    }
}

/// Folds one ticket's events (any order, all with the same hall and ticket id; at least one).
pub fn project(events: &[TicketEvent]) -> Option<Projection> {
    let first = events.first()?;
    let mut sorted: Vec<&TicketEvent> = events.iter().collect();
    sorted.sort_by(|a, b| (a.at_us, rank(a.kind), &a.event_id).cmp(&(b.at_us, rank(b.kind), &b.event_id)));

    let mut ticket = Ticket {
        hall: first.hall.clone(),
        ticket_id: first.ticket_id.clone(),
        number: None,
        field: None,
        channel: None,
        priority: None,
        issued_us: None,
        first_called_us: None,
        finished_us: None,
        counter: None,
        officer: None,
        outcome: Outcome::Waiting,
        calls: 0,
        transfers: 0,
    };
    let mut txs = vec![new_transaction(0, None, None, None)];
    for e in sorted {
        let Some(cur) = txs.last_mut() else { break };
        if e.counter.is_some() {
            cur.counter = e.counter;
        }
        if e.officer.is_some() {
            cur.officer.clone_from(&e.officer);
        }
        match e.kind {
            TicketEventKind::Issued => {
                ticket.issued_us = Some(e.at_us);
                ticket.number.clone_from(&e.number);
                ticket.field.clone_from(&e.field);
                ticket.channel.clone_from(&e.channel);
                ticket.priority = e.priority;
                let tx0 = &mut txs[0];
                tx0.queued_us = Some(e.at_us);
                tx0.field.clone_from(&e.field);
            }
            TicketEventKind::Called => {
                // A skipped (no-show) ticket may be called again; a served or removed one
                // cannot, so such a call is a source error and is ignored.
                if matches!(cur.outcome, Outcome::Served | Outcome::Removed | Outcome::Transferred) {
                    continue;
                }
                cur.calls += 1;
                cur.first_called_us.get_or_insert(e.at_us);
                cur.last_called_us = Some(e.at_us);
                cur.end_us = None;
                cur.outcome = Outcome::Called;
            }
            TicketEventKind::ServiceStarted => {
                cur.service_start_us = Some(e.at_us);
                cur.outcome = Outcome::Serving;
            }
            TicketEventKind::Finished => {
                cur.end_us = Some(e.at_us);
                cur.outcome = Outcome::Served;
            }
            TicketEventKind::NoShow => {
                cur.end_us = Some(e.at_us);
                cur.outcome = Outcome::NoShow;
            }
            TicketEventKind::Removed => {
                cur.end_us = Some(e.at_us);
                cur.outcome = Outcome::Removed;
            }
            TicketEventKind::Transferred => {
                // A transfer before any call just moves the ticket: it has no service time
                // here, because `service_us` needs a call.
                cur.end_us = Some(e.at_us);
                cur.outcome = Outcome::Transferred;
                let field = e.to_field.clone().or_else(|| cur.field.clone());
                let seq = cur.seq + 1;
                txs.push(new_transaction(seq, Some(e.at_us), field, e.to_counter));
            }
        }
    }
    ticket.first_called_us = txs[0].first_called_us;
    ticket.calls = txs.iter().map(|t| t.calls).sum();
    ticket.transfers = i64::try_from(txs.len()).unwrap_or(i64::MAX) - 1;
    if let Some(last) = txs.last() {
        ticket.outcome = last.outcome;
        ticket.counter = txs.iter().rev().find_map(|t| t.counter);
        ticket.officer = txs.iter().rev().find_map(|t| t.officer.clone());
        ticket.finished_us = (last.outcome == Outcome::Served).then_some(last.end_us).flatten();
    }
    Some(Projection { ticket, transactions: txs })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn ev(id: &str, kind: TicketEventKind, at_min: i64) -> TicketEvent {
        TicketEvent {
            event_id: id.into(),
            hall: "demo".into(),
            ticket_id: "t1".into(),
            kind,
            at_us: at_min * MIN,
            number: (kind == TicketEventKind::Issued).then(|| "A023".into()),
            field: (kind == TicketEventKind::Issued).then(|| "HT".into()),
            counter: matches!(kind, TicketEventKind::Called | TicketEventKind::Finished).then_some(4),
            officer: None,
            to_field: None,
            to_counter: (kind == TicketEventKind::Transferred).then_some(5),
            channel: None,
            priority: None,
        }
    }

    #[test]
    fn recall_measures_wait_to_the_last_call() {
        use TicketEventKind::*;
        let events = [ev("1", Issued, 0), ev("2", Called, 10), ev("3", Called, 12), ev("4", Finished, 20)];
        let p = project(&events).unwrap();
        let tx = &p.transactions[0];
        assert_eq!(tx.calls, 2);
        assert_eq!(tx.wait_us(), Some(12 * MIN));
        assert_eq!(tx.service_us(), Some(8 * MIN));
        assert_eq!(p.ticket.outcome, Outcome::Served);
        assert_eq!(p.ticket.first_called_us, Some(10 * MIN));
    }

    #[test]
    fn order_of_arrival_does_not_matter() {
        use TicketEventKind::*;
        let a = [ev("1", Issued, 0), ev("2", Called, 10), ev("3", Transferred, 15), ev("4", Called, 30), ev("5", Finished, 40)];
        let mut b = a.clone();
        b.reverse();
        assert_eq!(project(&a), project(&b));
        let p = project(&b).unwrap();
        assert_eq!(p.transactions.len(), 2);
        assert_eq!(p.transactions[0].outcome, Outcome::Transferred);
        assert_eq!(p.transactions[0].service_us(), Some(5 * MIN));
        assert_eq!(p.transactions[1].wait_us(), Some(15 * MIN));
        assert_eq!(p.transactions[1].counter, Some(4));
        assert_eq!(p.ticket.transfers, 1);
        assert_eq!(p.ticket.outcome, Outcome::Served);
    }

    #[test]
    fn no_show_then_recall_is_served() {
        use TicketEventKind::*;
        let p = project(&[ev("1", Issued, 0), ev("2", Called, 5), ev("3", NoShow, 7), ev("4", Called, 9), ev("5", Finished, 15)]).unwrap();
        assert_eq!(p.ticket.outcome, Outcome::Served);
        assert_eq!(p.transactions[0].wait_us(), Some(9 * MIN));
    }

    #[test]
    fn late_issue_event_fills_the_ticket_in() {
        use TicketEventKind::*;
        let p = project(&[ev("2", Called, 10)]).unwrap();
        assert_eq!(p.ticket.issued_us, None);
        assert_eq!(p.transactions[0].wait_us(), None);
        let p = project(&[ev("2", Called, 10), ev("1", Issued, 1)]).unwrap();
        assert_eq!(p.transactions[0].wait_us(), Some(9 * MIN));
        assert_eq!(p.ticket.number.as_deref(), Some("A023"));
    }
}
