//! Service records: what the hall's queue system (tickets, counters), one-stop software
//! (dossiers) and rating devices know, in the shape `domain.md` §3 describes.
//!
//! Records arrive from outside (the `/api/v1` ingestion API, CSV imports), so every type here
//! is validated field by field and every error names the field. The ticket history is kept as
//! events and projected into tickets and transactions by [`ticket::project`], which is
//! order-independent so late and out-of-order events are fine.

pub mod alerts;
pub mod evidence;
pub mod ewt;
pub mod import;
pub mod kpi;
pub mod now;
pub mod ticket;

use serde::{Deserialize, Serialize};

use crate::time::{parse_rfc3339, WallUs};

/// A record that failed validation, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field, e.g. `at` or `to_counter`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid { field: field.to_owned(), message: message.into() }
}

fn time(field: &str, s: &str) -> Result<WallUs, Invalid> {
    parse_rfc3339(s).map_err(|e| invalid(field, format!("not an RFC 3339 time with offset ({e})")))
}

fn opt_time(field: &str, s: &Option<String>) -> Result<Option<WallUs>, Invalid> {
    s.as_deref().map(|s| time(field, s)).transpose()
}

fn non_empty(field: &str, s: &str, max: usize) -> Result<(), Invalid> {
    if s.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.len() > max {
        return Err(invalid(field, format!("longer than {max} bytes")));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

fn opt_non_empty(field: &str, s: &Option<String>, max: usize) -> Result<(), Invalid> {
    s.as_deref().map_or(Ok(()), |s| non_empty(field, s, max))
}

fn counter_number(field: &str, n: Option<i64>) -> Result<(), Invalid> {
    match n {
        Some(n) if !(1..=9999).contains(&n) => Err(invalid(field, "must be a counter number 1–9999")),
        _ => Ok(()),
    }
}

/// What happened to a ticket (domain.md §3.1 outcomes and §2 "gọi số / gọi lại / bỏ qua / chuyển quầy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketEventKind {
    /// Printed at the kiosk (lấy số): the citizen's arrival in the queue.
    Issued,
    /// Called to a counter (gọi số); a second call is a recall (gọi lại).
    Called,
    /// The citizen reached the counter and service began.
    ServiceStarted,
    /// Service ended at the counter.
    Finished,
    /// Called but never came (bỏ qua).
    NoShow,
    /// Sent to another counter or field (chuyển quầy); opens a new transaction.
    Transferred,
    /// Removed before service: left the hall (bỏ về) or cancelled by staff.
    Removed,
}

impl TicketEventKind {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketEventKind::Issued => "issued",
            TicketEventKind::Called => "called",
            TicketEventKind::ServiceStarted => "service_started",
            TicketEventKind::Finished => "finished",
            TicketEventKind::NoShow => "no_show",
            TicketEventKind::Transferred => "transferred",
            TicketEventKind::Removed => "removed",
        }
    }

    /// Parses the database / CSV spelling.
    pub fn parse(s: &str) -> Option<TicketEventKind> {
        Some(match s {
            "issued" => TicketEventKind::Issued,
            "called" => TicketEventKind::Called,
            "service_started" => TicketEventKind::ServiceStarted,
            "finished" => TicketEventKind::Finished,
            "no_show" => TicketEventKind::NoShow,
            "transferred" => TicketEventKind::Transferred,
            "removed" => TicketEventKind::Removed,
            _ => return None,
        })
    }
}

/// A ticket event as a source sends it (JSON body or CSV row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketEventIn {
    /// The source's id of this event; a second event with the same id is a replay.
    pub event_id: String,
    /// The hall.
    pub hall: String,
    /// The source's id of the ticket (stable across the ticket's events).
    pub ticket_id: String,
    /// What happened.
    pub kind: TicketEventKind,
    /// When, RFC 3339 with offset (e.g. `2026-12-01T08:05:00+07:00`).
    pub at: String,
    /// Displayed number, e.g. `A023` (needed on `issued`).
    #[serde(default)]
    pub number: Option<String>,
    /// Field code (lĩnh vực) of the queue (needed on `issued`).
    #[serde(default)]
    pub field: Option<String>,
    /// Counter number (needed on `called`).
    #[serde(default)]
    pub counter: Option<i64>,
    /// Officer at the counter.
    #[serde(default)]
    pub officer: Option<String>,
    /// Target field of a transfer.
    #[serde(default)]
    pub to_field: Option<String>,
    /// Target counter of a transfer.
    #[serde(default)]
    pub to_counter: Option<i64>,
    /// How the ticket was taken: kiosk, online, qr, staff.
    #[serde(default)]
    pub channel: Option<String>,
    /// Priority class (0 normal; higher first).
    #[serde(default)]
    pub priority: Option<i64>,
}

/// A validated ticket event, times in µs.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketEvent {
    /// Source id of the event.
    pub event_id: String,
    /// Hall.
    pub hall: String,
    /// Ticket id.
    pub ticket_id: String,
    /// What happened.
    pub kind: TicketEventKind,
    /// When.
    pub at_us: WallUs,
    /// Displayed number.
    pub number: Option<String>,
    /// Field code.
    pub field: Option<String>,
    /// Counter.
    pub counter: Option<i64>,
    /// Officer.
    pub officer: Option<String>,
    /// Transfer target field.
    pub to_field: Option<String>,
    /// Transfer target counter.
    pub to_counter: Option<i64>,
    /// Channel.
    pub channel: Option<String>,
    /// Priority.
    pub priority: Option<i64>,
}

const CHANNELS: &[&str] = &["kiosk", "online", "qr", "staff"];

impl TicketEventIn {
    /// Checks every field and converts times.
    pub fn validate(&self) -> Result<TicketEvent, Invalid> {
        non_empty("event_id", &self.event_id, 128)?;
        non_empty("hall", &self.hall, 64)?;
        non_empty("ticket_id", &self.ticket_id, 128)?;
        let at_us = time("at", &self.at)?;
        opt_non_empty("number", &self.number, 32)?;
        opt_non_empty("field", &self.field, 64)?;
        opt_non_empty("officer", &self.officer, 64)?;
        opt_non_empty("to_field", &self.to_field, 64)?;
        counter_number("counter", self.counter)?;
        counter_number("to_counter", self.to_counter)?;
        match self.kind {
            TicketEventKind::Issued => {
                if self.number.is_none() {
                    return Err(invalid("number", "required on `issued`"));
                }
                if self.field.is_none() {
                    return Err(invalid("field", "required on `issued`"));
                }
            }
            TicketEventKind::Called | TicketEventKind::ServiceStarted | TicketEventKind::Finished => {
                if self.counter.is_none() {
                    return Err(invalid("counter", format!("required on `{}`", self.kind.as_str())));
                }
            }
            TicketEventKind::Transferred => {
                if self.to_field.is_none() && self.to_counter.is_none() {
                    return Err(invalid("to_counter", "a transfer needs `to_counter` or `to_field`"));
                }
            }
            TicketEventKind::NoShow | TicketEventKind::Removed => {}
        }
        if let Some(c) = &self.channel {
            if !CHANNELS.contains(&c.as_str()) {
                return Err(invalid("channel", format!("must be one of {}", CHANNELS.join(", "))));
            }
        }
        if let Some(p) = self.priority {
            if !(0..=9).contains(&p) {
                return Err(invalid("priority", "must be 0–9"));
            }
        }
        Ok(TicketEvent {
            event_id: self.event_id.clone(),
            hall: self.hall.clone(),
            ticket_id: self.ticket_id.clone(),
            kind: self.kind,
            at_us,
            number: self.number.clone(),
            field: self.field.clone(),
            counter: self.counter,
            officer: self.officer.clone(),
            to_field: self.to_field.clone(),
            to_counter: self.to_counter,
            channel: self.channel.clone(),
            priority: self.priority,
        })
    }
}

/// DVCQG dossier status (TrangThaiHoSo, domain.md §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "i64", into = "i64")]
pub struct DossierStatus(pub i64);

impl DossierStatus {
    /// Đã trả kết quả (returned).
    pub const RETURNED: DossierStatus = DossierStatus(10);
    /// Đã xử lý xong (processed).
    pub const PROCESSED: DossierStatus = DossierStatus(9);

    /// The Vietnamese name of the status.
    pub fn name_vi(self) -> &'static str {
        match self.0 {
            1 => "Mới đăng ký",
            2 => "Được tiếp nhận",
            3 => "Không được tiếp nhận",
            4 => "Đang xử lý",
            5 => "Yêu cầu bổ sung giấy tờ",
            6 => "Yêu cầu thực hiện nghĩa vụ tài chính",
            7 => "Công dân yêu cầu rút hồ sơ",
            8 => "Dừng xử lý",
            9 => "Đã xử lý xong",
            _ => "Đã trả kết quả",
        }
    }
}

impl TryFrom<i64> for DossierStatus {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (1..=10).contains(&v) {
            Ok(DossierStatus(v))
        } else {
            Err(format!("DVCQG status code must be 1–10, got {v}"))
        }
    }
}

impl From<DossierStatus> for i64 {
    fn from(s: DossierStatus) -> i64 {
        s.0
    }
}

/// How a dossier was submitted (KENH_THUC_HIEN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 1: trực tiếp, at the counter.
    InPerson,
    /// 2: trực tuyến, online.
    Online,
    /// 3: qua bưu chính công ích, by public post.
    Postal,
}

impl Channel {
    /// The DVCQG code.
    pub fn code(self) -> i64 {
        match self {
            Channel::InPerson => 1,
            Channel::Online => 2,
            Channel::Postal => 3,
        }
    }
}

/// A dossier snapshot as the one-stop software sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DossierIn {
    /// Hall.
    pub hall: String,
    /// Mã hồ sơ, e.g. `000.00.01.H29-251015-0042`.
    pub code: String,
    /// Procedure code (mã TTHC), e.g. `2.000635`.
    pub procedure_code: String,
    /// Procedure name.
    pub procedure_name: String,
    /// Field code (lĩnh vực).
    pub field: String,
    /// Submission channel.
    pub channel: Channel,
    /// Ngày tiếp nhận.
    pub received_at: String,
    /// Ngày hẹn trả.
    pub due_at: String,
    /// Ngày trả (result returned), if returned.
    #[serde(default)]
    pub returned_at: Option<String>,
    /// Ngày kết thúc xử lý (processing finished), if finished.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Whether an extension (gia hạn, Mẫu 04) was granted.
    #[serde(default)]
    pub extended: bool,
    /// Current DVCQG status.
    pub status: DossierStatus,
    /// When the current status was set; defaults to the latest date above.
    #[serde(default)]
    pub status_at: Option<String>,
    /// Receiving counter.
    #[serde(default)]
    pub counter: Option<i64>,
    /// Receiving officer.
    #[serde(default)]
    pub officer: Option<String>,
    /// Ticket(s) the dossier came from, when known.
    #[serde(default)]
    pub tickets: Vec<String>,
}

/// A validated dossier.
#[derive(Debug, Clone, PartialEq)]
pub struct Dossier {
    /// Hall.
    pub hall: String,
    /// Mã hồ sơ.
    pub code: String,
    /// Procedure code.
    pub procedure_code: String,
    /// Procedure name.
    pub procedure_name: String,
    /// Field code.
    pub field: String,
    /// Channel.
    pub channel: Channel,
    /// Received.
    pub received_us: WallUs,
    /// Due (hẹn trả).
    pub due_us: WallUs,
    /// Returned.
    pub returned_us: Option<WallUs>,
    /// Processing finished.
    pub finished_us: Option<WallUs>,
    /// Extension granted.
    pub extended: bool,
    /// Status.
    pub status: DossierStatus,
    /// When the status was set.
    pub status_at_us: WallUs,
    /// Receiving counter.
    pub counter: Option<i64>,
    /// Receiving officer.
    pub officer: Option<String>,
    /// Linked tickets.
    pub tickets: Vec<String>,
}

impl DossierIn {
    /// Checks every field and converts times.
    pub fn validate(&self) -> Result<Dossier, Invalid> {
        non_empty("hall", &self.hall, 64)?;
        non_empty("code", &self.code, 64)?;
        non_empty("procedure_code", &self.procedure_code, 32)?;
        non_empty("procedure_name", &self.procedure_name, 512)?;
        non_empty("field", &self.field, 64)?;
        let received_us = time("received_at", &self.received_at)?;
        let due_us = time("due_at", &self.due_at)?;
        if due_us < received_us {
            return Err(invalid("due_at", "is before received_at"));
        }
        let returned_us = opt_time("returned_at", &self.returned_at)?;
        let finished_us = opt_time("finished_at", &self.finished_at)?;
        for (f, t) in [("returned_at", returned_us), ("finished_at", finished_us)] {
            if t.is_some_and(|t| t < received_us) {
                return Err(invalid(f, "is before received_at"));
            }
        }
        let status_at_us = match opt_time("status_at", &self.status_at)? {
            Some(t) => t,
            None => [Some(received_us), returned_us, finished_us].into_iter().flatten().max().unwrap_or(received_us),
        };
        counter_number("counter", self.counter)?;
        opt_non_empty("officer", &self.officer, 64)?;
        for (i, t) in self.tickets.iter().enumerate() {
            non_empty(&format!("tickets[{i}]"), t, 128)?;
        }
        Ok(Dossier {
            hall: self.hall.clone(),
            code: self.code.clone(),
            procedure_code: self.procedure_code.clone(),
            procedure_name: self.procedure_name.clone(),
            field: self.field.clone(),
            channel: self.channel,
            received_us,
            due_us,
            returned_us,
            finished_us,
            extended: self.extended,
            status: self.status,
            status_at_us,
            counter: self.counter,
            officer: self.officer.clone(),
            tickets: self.tickets.clone(),
        })
    }
}

/// A dossier status change as the one-stop software sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DossierStatusIn {
    /// The source's id of this change; a second change with the same id is a replay.
    pub event_id: String,
    /// Hall.
    pub hall: String,
    /// Mã hồ sơ.
    pub code: String,
    /// New status.
    pub status: DossierStatus,
    /// When.
    pub at: String,
    /// Who changed it.
    #[serde(default)]
    pub officer: Option<String>,
    /// Free text (NoiDungXuLy).
    #[serde(default)]
    pub note: Option<String>,
}

/// A validated dossier status change.
#[derive(Debug, Clone, PartialEq)]
pub struct DossierStatusChange {
    /// Source id.
    pub event_id: String,
    /// Hall.
    pub hall: String,
    /// Mã hồ sơ.
    pub code: String,
    /// New status.
    pub status: DossierStatus,
    /// When.
    pub at_us: WallUs,
    /// Who.
    pub officer: Option<String>,
    /// Note.
    pub note: Option<String>,
}

impl DossierStatusIn {
    /// Checks every field.
    pub fn validate(&self) -> Result<DossierStatusChange, Invalid> {
        non_empty("event_id", &self.event_id, 128)?;
        non_empty("hall", &self.hall, 64)?;
        non_empty("code", &self.code, 64)?;
        let at_us = time("at", &self.at)?;
        opt_non_empty("officer", &self.officer, 64)?;
        if self.note.as_ref().is_some_and(|n| n.len() > 2000) {
            return Err(invalid("note", "longer than 2000 bytes"));
        }
        Ok(DossierStatusChange {
            event_id: self.event_id.clone(),
            hall: self.hall.clone(),
            code: self.code.clone(),
            status: self.status,
            at_us,
            officer: self.officer.clone(),
            note: self.note.clone(),
        })
    }
}

/// Rating scales in use (domain.md §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RatingScale {
    /// 1 Không hài lòng, 2 Hài lòng, 3 Rất hài lòng.
    Three,
    /// 1–5 stars (Kém → Rất tốt).
    Five,
}

impl RatingScale {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RatingScale::Three => "three",
            RatingScale::Five => "five",
        }
    }

    /// Whether `score` counts as satisfied. Five stars: 4–5, because devices ask ≤3-star
    /// raters for dissatisfaction reasons (VNPT iQMS), so ≤3 is treated as dissatisfied.
    pub fn satisfied(self, score: i64) -> bool {
        match self {
            RatingScale::Three => score >= 2,
            RatingScale::Five => score >= 4,
        }
    }

    fn max(self) -> i64 {
        match self {
            RatingScale::Three => 3,
            RatingScale::Five => 5,
        }
    }
}

/// A rating as the device or portal sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingIn {
    /// The source's id; a second rating with the same id is a replay.
    pub rating_id: String,
    /// Hall.
    pub hall: String,
    /// When.
    pub at: String,
    /// Scale.
    pub scale: RatingScale,
    /// Score on that scale.
    pub score: i64,
    /// Rated ticket, if known.
    #[serde(default)]
    pub ticket_id: Option<String>,
    /// Rated dossier, if known.
    #[serde(default)]
    pub dossier_code: Option<String>,
    /// Counter.
    #[serde(default)]
    pub counter: Option<i64>,
    /// Officer.
    #[serde(default)]
    pub officer: Option<String>,
    /// Dissatisfaction reasons picked.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Free comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Rating device.
    #[serde(default)]
    pub device_id: Option<String>,
}

/// A validated rating.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    /// Source id.
    pub rating_id: String,
    /// Hall.
    pub hall: String,
    /// When.
    pub at_us: WallUs,
    /// Scale.
    pub scale: RatingScale,
    /// Score.
    pub score: i64,
    /// Satisfied (derived from scale and score).
    pub satisfied: bool,
    /// Ticket.
    pub ticket_id: Option<String>,
    /// Dossier.
    pub dossier_code: Option<String>,
    /// Counter.
    pub counter: Option<i64>,
    /// Officer.
    pub officer: Option<String>,
    /// Reasons.
    pub reasons: Vec<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Device.
    pub device_id: Option<String>,
}

impl RatingIn {
    /// Checks every field.
    pub fn validate(&self) -> Result<Rating, Invalid> {
        non_empty("rating_id", &self.rating_id, 128)?;
        non_empty("hall", &self.hall, 64)?;
        let at_us = time("at", &self.at)?;
        if !(1..=self.scale.max()).contains(&self.score) {
            return Err(invalid("score", format!("must be 1–{} on the `{}` scale", self.scale.max(), self.scale.as_str())));
        }
        opt_non_empty("ticket_id", &self.ticket_id, 128)?;
        opt_non_empty("dossier_code", &self.dossier_code, 64)?;
        counter_number("counter", self.counter)?;
        opt_non_empty("officer", &self.officer, 64)?;
        opt_non_empty("device_id", &self.device_id, 64)?;
        if self.reasons.len() > 20 || self.reasons.iter().any(|r| r.len() > 200) {
            return Err(invalid("reasons", "at most 20 reasons of 200 bytes"));
        }
        if self.comment.as_ref().is_some_and(|c| c.len() > 2000) {
            return Err(invalid("comment", "longer than 2000 bytes"));
        }
        Ok(Rating {
            rating_id: self.rating_id.clone(),
            hall: self.hall.clone(),
            at_us,
            scale: self.scale,
            score: self.score,
            satisfied: self.scale.satisfied(self.score),
            ticket_id: self.ticket_id.clone(),
            dossier_code: self.dossier_code.clone(),
            counter: self.counter,
            officer: self.officer.clone(),
            reasons: self.reasons.clone(),
            comment: self.comment.clone(),
            device_id: self.device_id.clone(),
        })
    }
}

/// Opening hours per weekday, local time: `{"mon": [["07:30","11:30"], ["13:30","17:00"]]}`.
pub type OpeningHours = std::collections::BTreeMap<String, Vec<[String; 2]>>;

const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses `HH:MM` into minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// A counter as the QMS sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterIn {
    /// Hall.
    pub hall: String,
    /// Counter number (quầy số).
    pub number: i64,
    /// Display name.
    pub name: String,
    /// Field codes served.
    pub fields: Vec<String>,
    /// Scheduled opening hours.
    #[schema(value_type = std::collections::BTreeMap<String, Vec<Vec<String>>>, example = json!({"mon": [["07:30", "11:30"], ["13:30", "17:00"]]}))]
    pub opening_hours: OpeningHours,
    /// Camera whose zones show this counter.
    #[serde(default)]
    pub camera: Option<String>,
}

impl CounterIn {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), Invalid> {
        non_empty("hall", &self.hall, 64)?;
        counter_number("number", Some(self.number))?;
        non_empty("name", &self.name, 128)?;
        if self.fields.is_empty() {
            return Err(invalid("fields", "a counter serves at least one field"));
        }
        for (i, f) in self.fields.iter().enumerate() {
            non_empty(&format!("fields[{i}]"), f, 64)?;
        }
        for (day, spans) in &self.opening_hours {
            if !WEEKDAYS.contains(&day.as_str()) {
                return Err(invalid(&format!("opening_hours.{day}"), format!("weekday must be one of {}", WEEKDAYS.join(", "))));
            }
            for (i, [from, to]) in spans.iter().enumerate() {
                let key = format!("opening_hours.{day}[{i}]");
                let (Some(a), Some(b)) = (parse_hhmm(from), parse_hhmm(to)) else {
                    return Err(invalid(&key, "times must be HH:MM"));
                };
                if a >= b {
                    return Err(invalid(&key, "opens after it closes"));
                }
            }
        }
        opt_non_empty("camera", &self.camera, 64)?;
        Ok(())
    }
}

/// An officer as the QMS sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficerIn {
    /// Hall.
    pub hall: String,
    /// The source's officer id.
    pub id: String,
    /// Name shown to supervisors.
    pub name: String,
    /// Still working here.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl OfficerIn {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), Invalid> {
        non_empty("hall", &self.hall, 64)?;
        non_empty("id", &self.id, 64)?;
        non_empty("name", &self.name, 128)
    }
}

/// Counter open state as the QMS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CounterStateKind {
    /// Open for service.
    Open,
    /// Paused (tạm dừng quầy), with a reason.
    Paused,
    /// Closed.
    Closed,
}

impl CounterStateKind {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CounterStateKind::Open => "open",
            CounterStateKind::Paused => "paused",
            CounterStateKind::Closed => "closed",
        }
    }
}

/// A counter state change as the QMS sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterStateIn {
    /// The source's id of the change.
    pub event_id: String,
    /// Hall.
    pub hall: String,
    /// Counter number.
    pub counter: i64,
    /// New state.
    pub state: CounterStateKind,
    /// When.
    pub at: String,
    /// Pause reason, e.g. "Đi họp".
    #[serde(default)]
    pub reason: Option<String>,
    /// Officer logged in at the counter.
    #[serde(default)]
    pub officer: Option<String>,
}

/// A validated counter state change.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterStateChange {
    /// Source id.
    pub event_id: String,
    /// Hall.
    pub hall: String,
    /// Counter.
    pub counter: i64,
    /// State.
    pub state: CounterStateKind,
    /// When.
    pub at_us: WallUs,
    /// Reason.
    pub reason: Option<String>,
    /// Officer.
    pub officer: Option<String>,
}

impl CounterStateIn {
    /// Checks every field.
    pub fn validate(&self) -> Result<CounterStateChange, Invalid> {
        non_empty("event_id", &self.event_id, 128)?;
        non_empty("hall", &self.hall, 64)?;
        counter_number("counter", Some(self.counter))?;
        let at_us = time("at", &self.at)?;
        opt_non_empty("reason", &self.reason, 256)?;
        opt_non_empty("officer", &self.officer, 64)?;
        Ok(CounterStateChange {
            event_id: self.event_id.clone(),
            hall: self.hall.clone(),
            counter: self.counter,
            state: self.state,
            at_us,
            reason: self.reason.clone(),
            officer: self.officer.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued() -> TicketEventIn {
        TicketEventIn {
            event_id: "e1".into(),
            hall: "demo".into(),
            ticket_id: "t1".into(),
            kind: TicketEventKind::Issued,
            at: "2026-12-01T08:00:00+07:00".into(),
            number: Some("A001".into()),
            field: Some("HT".into()),
            counter: None,
            officer: None,
            to_field: None,
            to_counter: None,
            channel: Some("kiosk".into()),
            priority: None,
        }
    }

    #[test]
    fn ticket_event_errors_name_the_field() {
        assert!(issued().validate().is_ok());
        let mut e = issued();
        e.at = "yesterday".into();
        assert_eq!(e.validate().unwrap_err().field, "at");
        let mut e = issued();
        e.number = None;
        assert_eq!(e.validate().unwrap_err().field, "number");
        let mut e = issued();
        e.kind = TicketEventKind::Called;
        assert_eq!(e.validate().unwrap_err().field, "counter");
        e.counter = Some(0);
        assert_eq!(e.validate().unwrap_err().field, "counter");
        let mut e = issued();
        e.channel = Some("fax".into());
        assert_eq!(e.validate().unwrap_err().field, "channel");
        let mut e = issued();
        e.ticket_id = "a\u{0}b".into();
        assert_eq!(e.validate().unwrap_err().field, "ticket_id");
    }

    #[test]
    fn five_star_three_is_dissatisfied() {
        assert!(!RatingScale::Five.satisfied(3));
        assert!(RatingScale::Five.satisfied(4));
        assert!(!RatingScale::Three.satisfied(1));
        assert!(RatingScale::Three.satisfied(2));
    }

    #[test]
    fn opening_hours_are_checked() {
        let mut c = CounterIn {
            hall: "demo".into(),
            number: 3,
            name: "Quầy 3".into(),
            fields: vec!["HT".into()],
            opening_hours: [("mon".to_owned(), vec![["07:30".to_owned(), "11:30".to_owned()]])].into_iter().collect(),
            camera: None,
        };
        assert!(c.validate().is_ok());
        c.opening_hours.insert("funday".into(), vec![]);
        assert_eq!(c.validate().unwrap_err().field, "opening_hours.funday");
        c.opening_hours.remove("funday");
        c.opening_hours.insert("tue".into(), vec![["12:00".into(), "11:00".into()]]);
        assert_eq!(c.validate().unwrap_err().field, "opening_hours.tue[0]");
    }

    #[test]
    fn dossier_dates_are_ordered() {
        let d = DossierIn {
            hall: "demo".into(),
            code: "000.00.01.H29-251015-0042".into(),
            procedure_code: "2.000635".into(),
            procedure_name: "Đăng ký khai sinh".into(),
            field: "HT".into(),
            channel: Channel::InPerson,
            received_at: "2026-12-01T08:00:00+07:00".into(),
            due_at: "2026-11-30T08:00:00+07:00".into(),
            returned_at: None,
            finished_at: None,
            extended: false,
            status: DossierStatus(2),
            status_at: None,
            counter: Some(1),
            officer: None,
            tickets: vec![],
        };
        assert_eq!(d.validate().unwrap_err().field, "due_at");
        assert!(serde_json::from_str::<DossierStatus>("11").is_err());
    }
}
