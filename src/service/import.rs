//! Checking records against the configured halls (shared by the `/api/v1` ingestion API and
//! CSV imports), and the CSV bulk import behind `hallwatch import`.
//!
//! A CSV file is read whole and checked before anything is stored: a file that is not CSV we
//! can trust (not UTF-8, header columns missing or unknown, an unclosed quote) imports
//! nothing; otherwise every row is validated, bad rows are reported with their line number and
//! column, and all good rows go to the store in one call, which is one transaction.

use std::collections::HashMap;
use std::fmt;

use super::{
    Channel, CounterIn, CounterStateChange, CounterStateIn, Dossier, DossierIn, DossierStatus, DossierStatusChange,
    DossierStatusIn, Invalid, OfficerIn, Rating, RatingIn, RatingScale, TicketEvent, TicketEventIn, TicketEventKind,
};
use crate::config::Config;
use crate::store::{Ingested, Store, StoreError};

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid { field: field.to_owned(), message: message.into() }
}

/// The halls records may name, with the field codes each hall lists (from `[[halls]]`).
#[derive(Debug, Clone, Default)]
pub struct KnownHalls {
    halls: HashMap<String, Vec<String>>,
}

impl KnownHalls {
    /// The halls of a configuration.
    pub fn from_config(cfg: &Config) -> KnownHalls {
        KnownHalls {
            halls: cfg.halls.iter().map(|h| (h.id.clone(), h.fields.iter().map(|f| f.code.clone()).collect())).collect(),
        }
    }

    /// Checks that `hall` is configured.
    pub fn hall(&self, hall: &str) -> Result<(), Invalid> {
        if self.halls.contains_key(hall) {
            Ok(())
        } else {
            Err(invalid("hall", format!("unknown hall `{hall}` (not in the configuration's [[halls]])")))
        }
    }

    /// Checks a field code against the hall's `[[halls.fields]]`; a hall that lists no fields
    /// accepts any code (the operator has not described its queues yet).
    pub fn field(&self, hall: &str, name: &str, code: Option<&str>) -> Result<(), Invalid> {
        let (Some(code), Some(fields)) = (code, self.halls.get(hall)) else { return Ok(()) };
        if fields.is_empty() || fields.iter().any(|f| f == code) {
            Ok(())
        } else {
            Err(invalid(name, format!("unknown field code `{code}` in hall `{hall}` (known: {})", fields.join(", "))))
        }
    }
}

/// A record as posted or imported: validates into what the store takes, hall and field codes included.
pub trait Record {
    /// The validated form the store takes.
    type Valid;
    /// Validates every field, then the hall and field codes against the configuration.
    fn check(&self, known: &KnownHalls) -> Result<Self::Valid, Invalid>;
    /// The source's id of the record (or its natural key), to name it in conflict reports.
    fn id(&self) -> String;
}

impl Record for TicketEventIn {
    type Valid = TicketEvent;
    fn check(&self, known: &KnownHalls) -> Result<TicketEvent, Invalid> {
        let v = self.validate()?;
        known.hall(&v.hall)?;
        known.field(&v.hall, "field", v.field.as_deref())?;
        known.field(&v.hall, "to_field", v.to_field.as_deref())?;
        Ok(v)
    }
    fn id(&self) -> String {
        self.event_id.clone()
    }
}

impl Record for DossierIn {
    type Valid = Dossier;
    fn check(&self, known: &KnownHalls) -> Result<Dossier, Invalid> {
        let v = self.validate()?;
        known.hall(&v.hall)?;
        known.field(&v.hall, "field", Some(&v.field))?;
        Ok(v)
    }
    fn id(&self) -> String {
        self.code.clone()
    }
}

impl Record for DossierStatusIn {
    type Valid = DossierStatusChange;
    fn check(&self, known: &KnownHalls) -> Result<DossierStatusChange, Invalid> {
        let v = self.validate()?;
        known.hall(&v.hall)?;
        Ok(v)
    }
    fn id(&self) -> String {
        self.event_id.clone()
    }
}

impl Record for RatingIn {
    type Valid = Rating;
    fn check(&self, known: &KnownHalls) -> Result<Rating, Invalid> {
        let v = self.validate()?;
        known.hall(&v.hall)?;
        Ok(v)
    }
    fn id(&self) -> String {
        self.rating_id.clone()
    }
}

impl Record for CounterIn {
    type Valid = CounterIn;
    fn check(&self, known: &KnownHalls) -> Result<CounterIn, Invalid> {
        self.validate()?;
        known.hall(&self.hall)?;
        for (i, f) in self.fields.iter().enumerate() {
            known.field(&self.hall, &format!("fields[{i}]"), Some(f))?;
        }
        Ok(self.clone())
    }
    fn id(&self) -> String {
        self.number.to_string()
    }
}

impl Record for OfficerIn {
    type Valid = OfficerIn;
    fn check(&self, known: &KnownHalls) -> Result<OfficerIn, Invalid> {
        self.validate()?;
        known.hall(&self.hall)?;
        Ok(self.clone())
    }
    fn id(&self) -> String {
        self.id.clone()
    }
}

impl Record for CounterStateIn {
    type Valid = CounterStateChange;
    fn check(&self, known: &KnownHalls) -> Result<CounterStateChange, Invalid> {
        let v = self.validate()?;
        known.hall(&v.hall)?;
        Ok(v)
    }
    fn id(&self) -> String {
        self.event_id.clone()
    }
}

/// Which records a CSV file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvKind {
    /// Ticket events (`TicketEventIn` columns).
    Tickets,
    /// Dossier snapshots (`DossierIn` columns).
    Dossiers,
    /// Ratings (`RatingIn` columns).
    Ratings,
}

impl CsvKind {
    /// Parses the command-line spelling.
    pub fn parse(s: &str) -> Option<CsvKind> {
        match s {
            "tickets" => Some(CsvKind::Tickets),
            "dossiers" => Some(CsvKind::Dossiers),
            "ratings" => Some(CsvKind::Ratings),
            _ => None,
        }
    }
}

/// A CSV file that cannot be imported at all; nothing of it is stored.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// Not UTF-8 (exports from Excel must be saved as "CSV UTF-8").
    #[error("line {line}: not UTF-8 text (invalid byte at offset {offset}); save the export as CSV UTF-8")]
    NotUtf8 {
        /// Line of the first bad byte.
        line: u64,
        /// Byte offset of the first bad byte.
        offset: usize,
    },
    /// No header row.
    #[error("the file is empty: a header row naming the columns is required")]
    Empty,
    /// The header row is wrong: columns missing, unknown or repeated.
    #[error("header (line 1): {0}")]
    Header(String),
    /// A quoted field is never closed, so the rows after it cannot be told apart.
    #[error("a double-quoted field is never closed (odd number of `\"` in the file); the rows after it cannot be told apart")]
    UnclosedQuote,
    /// The CSV reader failed.
    #[error("line {line}: {message}")]
    Parse {
        /// Line.
        line: u64,
        /// Why.
        message: String,
    },
}

/// An import that could not run.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is malformed.
    #[error(transparent)]
    Csv(#[from] CsvError),
    /// The database failed; the transaction rolled back.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// Line in the file where the row starts (the header is line 1).
    pub line: u64,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}: column `{c}`: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// A row that validated.
#[derive(Debug, Clone)]
pub struct GoodRow<T> {
    /// Line where the row starts.
    pub line: u64,
    /// The record's source id.
    pub id: String,
    /// The validated record.
    pub record: T,
}

/// A file's rows, sorted into good and bad.
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    /// Data rows read (header excluded).
    pub rows: u64,
    /// Rows that validated, in file order.
    pub good: Vec<GoodRow<T>>,
    /// Rows that did not, in file order.
    pub bad: Vec<BadRow>,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    /// Rows stored (new, or a snapshot that changed something).
    pub imported: u64,
    /// Rows already stored with the same content.
    pub duplicates: u64,
    /// Rows whose id is stored with different content: refused, as (line, id).
    pub conflicts: Vec<(u64, String)>,
    /// Rows rejected by validation.
    pub rejected: Vec<BadRow>,
}

/// One data row with its columns looked up by name; empty cells are absent values.
pub struct CsvRow<'a> {
    rec: &'a csv::StringRecord,
    cols: &'a HashMap<&'static str, usize>,
}

impl CsvRow<'_> {
    fn opt(&self, name: &str) -> Option<String> {
        let i = *self.cols.get(name)?;
        self.rec.get(i).filter(|s| !s.is_empty()).map(str::to_owned)
    }

    fn req(&self, name: &str) -> Result<String, Invalid> {
        self.opt(name).ok_or_else(|| invalid(name, "required, but empty"))
    }

    fn opt_i64(&self, name: &str) -> Result<Option<i64>, Invalid> {
        self.opt(name).map(|s| s.parse::<i64>().map_err(|_| invalid(name, format!("`{s}` is not an integer")))).transpose()
    }

    fn req_i64(&self, name: &str) -> Result<i64, Invalid> {
        self.opt_i64(name)?.ok_or_else(|| invalid(name, "required, but empty"))
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.opt(name)
            .map(|s| s.split(';').map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn bool(&self, name: &str) -> Result<bool, Invalid> {
        match self.opt(name).as_deref() {
            None | Some("false" | "0" | "no") => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some(other) => Err(invalid(name, format!("`{other}` is not true/false"))),
        }
    }
}

/// A record type that can be read from a CSV row whose columns are its JSON field names.
pub trait CsvRecord: Record + Sized {
    /// Every column, and whether it is required in the header.
    const COLUMNS: &'static [(&'static str, bool)];
    /// Builds the record from a row, naming the column of a bad cell.
    fn from_row(row: &CsvRow<'_>) -> Result<Self, Invalid>;
}

impl CsvRecord for TicketEventIn {
    const COLUMNS: &'static [(&'static str, bool)] = &[
        ("event_id", true),
        ("hall", true),
        ("ticket_id", true),
        ("kind", true),
        ("at", true),
        ("number", false),
        ("field", false),
        ("counter", false),
        ("officer", false),
        ("to_field", false),
        ("to_counter", false),
        ("channel", false),
        ("priority", false),
    ];
    fn from_row(r: &CsvRow<'_>) -> Result<Self, Invalid> {
        let kind = r.req("kind")?;
        Ok(TicketEventIn {
            event_id: r.req("event_id")?,
            hall: r.req("hall")?,
            ticket_id: r.req("ticket_id")?,
            kind: TicketEventKind::parse(&kind).ok_or_else(|| {
                invalid("kind", format!("`{kind}` is not one of issued, called, service_started, finished, no_show, transferred, removed"))
            })?,
            at: r.req("at")?,
            number: r.opt("number"),
            field: r.opt("field"),
            counter: r.opt_i64("counter")?,
            officer: r.opt("officer"),
            to_field: r.opt("to_field"),
            to_counter: r.opt_i64("to_counter")?,
            channel: r.opt("channel"),
            priority: r.opt_i64("priority")?,
        })
    }
}

impl CsvRecord for DossierIn {
    const COLUMNS: &'static [(&'static str, bool)] = &[
        ("hall", true),
        ("code", true),
        ("procedure_code", true),
        ("procedure_name", true),
        ("field", true),
        ("channel", true),
        ("received_at", true),
        ("due_at", true),
        ("returned_at", false),
        ("finished_at", false),
        ("extended", false),
        ("status", true),
        ("status_at", false),
        ("counter", false),
        ("officer", false),
        ("tickets", false),
    ];
    fn from_row(r: &CsvRow<'_>) -> Result<Self, Invalid> {
        let channel = r.req("channel")?;
        let channel = match channel.as_str() {
            "in_person" | "1" => Channel::InPerson,
            "online" | "2" => Channel::Online,
            "postal" | "3" => Channel::Postal,
            other => return Err(invalid("channel", format!("`{other}` is not one of in_person, online, postal (or 1, 2, 3)"))),
        };
        let status = DossierStatus::try_from(r.req_i64("status")?).map_err(|e| invalid("status", e))?;
        Ok(DossierIn {
            hall: r.req("hall")?,
            code: r.req("code")?,
            procedure_code: r.req("procedure_code")?,
            procedure_name: r.req("procedure_name")?,
            field: r.req("field")?,
            channel,
            received_at: r.req("received_at")?,
            due_at: r.req("due_at")?,
            returned_at: r.opt("returned_at"),
            finished_at: r.opt("finished_at"),
            extended: r.bool("extended")?,
            status,
            status_at: r.opt("status_at"),
            counter: r.opt_i64("counter")?,
            officer: r.opt("officer"),
            tickets: r.list("tickets"),
        })
    }
}

impl CsvRecord for RatingIn {
    const COLUMNS: &'static [(&'static str, bool)] = &[
        ("rating_id", true),
        ("hall", true),
        ("at", true),
        ("scale", true),
        ("score", true),
        ("ticket_id", false),
        ("dossier_code", false),
        ("counter", false),
        ("officer", false),
        ("reasons", false),
        ("comment", false),
        ("device_id", false),
    ];
    fn from_row(r: &CsvRow<'_>) -> Result<Self, Invalid> {
        let scale = match r.req("scale")?.as_str() {
            "three" => RatingScale::Three,
            "five" => RatingScale::Five,
            other => return Err(invalid("scale", format!("`{other}` is not one of three, five"))),
        };
        Ok(RatingIn {
            rating_id: r.req("rating_id")?,
            hall: r.req("hall")?,
            at: r.req("at")?,
            scale,
            score: r.req_i64("score")?,
            ticket_id: r.opt("ticket_id"),
            dossier_code: r.opt("dossier_code"),
            counter: r.opt_i64("counter")?,
            officer: r.opt("officer"),
            reasons: r.list("reasons"),
            comment: r.opt("comment"),
            device_id: r.opt("device_id"),
        })
    }
}

/// Line number (1-based) of byte `offset`.
fn line_of(data: &[u8], offset: usize) -> u64 {
    let n = data.get(..offset).unwrap_or(data).iter().filter(|&&b| b == b'\n').count();
    u64::try_from(n).unwrap_or(u64::MAX).saturating_add(1)
}

/// Reads a whole CSV file of `T` records: a malformed file is an error; otherwise each row
/// is either good (validated, hall and field codes checked) or bad with its line and reason.
pub fn parse_csv<T: CsvRecord>(data: &[u8], known: &KnownHalls) -> Result<Parsed<T::Valid>, CsvError> {
    let text = std::str::from_utf8(data)
        .map_err(|e| CsvError::NotUtf8 { line: line_of(data, e.valid_up_to()), offset: e.valid_up_to() })?;
    // Spreadsheets often start UTF-8 exports with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(CsvError::Empty);
    }
    // In RFC 4180 CSV every `"` is part of a pair (enclosing or doubled), so an odd count means
    // a quoted field never closes and the reader would swallow every row after it into one cell.
    if text.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
        return Err(CsvError::UnclosedQuote);
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| CsvError::Parse { line: 1, message: e.to_string() })?.clone();
    let cols = header_columns::<T>(&header)?;
    let width = header.len();
    let mut out = Parsed { rows: 0, good: Vec::new(), bad: Vec::new() };
    let mut rec = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                return Err(CsvError::Parse { line, message: e.to_string() });
            }
        }
        let line = rec.position().map_or(0, csv::Position::line);
        // A blank line between rows is not a record anyone meant to send.
        if rec.len() == 1 && rec.get(0).is_some_and(str::is_empty) {
            continue;
        }
        out.rows += 1;
        if rec.len() != width {
            out.bad.push(BadRow { line, column: None, message: format!("has {} cells, the header has {width}", rec.len()) });
            continue;
        }
        let row = CsvRow { rec: &rec, cols: &cols };
        match T::from_row(&row).and_then(|r| Ok((r.check(known)?, r.id()))) {
            Ok((record, id)) => out.good.push(GoodRow { line, id, record }),
            Err(e) => out.bad.push(BadRow { line, column: Some(e.field), message: e.message }),
        }
    }
    Ok(out)
}

/// Maps each known column to its position; unknown, repeated or missing required columns are errors.
fn header_columns<T: CsvRecord>(header: &csv::StringRecord) -> Result<HashMap<&'static str, usize>, CsvError> {
    let mut cols = HashMap::new();
    let mut problems = Vec::new();
    for (i, name) in header.iter().enumerate() {
        match T::COLUMNS.iter().find(|(c, _)| *c == name) {
            Some((c, _)) => {
                if cols.insert(*c, i).is_some() {
                    problems.push(format!("column `{name}` appears twice"));
                }
            }
            None => problems.push(format!("unknown column `{name}`")),
        }
    }
    let missing: Vec<&str> = T::COLUMNS.iter().filter(|(c, req)| *req && !cols.contains_key(c)).map(|(c, _)| *c).collect();
    if !missing.is_empty() {
        problems.push(format!("missing required column(s) {}", missing.join(", ")));
    }
    if problems.is_empty() {
        Ok(cols)
    } else {
        let all: Vec<&str> = T::COLUMNS.iter().map(|(c, _)| *c).collect();
        Err(CsvError::Header(format!("{} (columns are: {})", problems.join("; "), all.join(", "))))
    }
}

/// Imports a CSV file: rejects bad rows, stores all good rows in one transaction under `source`.
pub async fn import_csv(store: &Store, kind: CsvKind, data: &[u8], known: &KnownHalls, source: &str) -> Result<ImportReport, ImportError> {
    match kind {
        CsvKind::Tickets => {
            let p = parse_csv::<TicketEventIn>(data, known)?;
            let recs: Vec<TicketEvent> = p.good.iter().map(|g| g.record.clone()).collect();
            let res = store.ingest_ticket_events(source, &recs).await?;
            Ok(report(p, &res))
        }
        CsvKind::Dossiers => {
            let p = parse_csv::<DossierIn>(data, known)?;
            let recs: Vec<Dossier> = p.good.iter().map(|g| g.record.clone()).collect();
            let res = store.ingest_dossiers(source, &recs).await?;
            Ok(report(p, &res))
        }
        CsvKind::Ratings => {
            let p = parse_csv::<RatingIn>(data, known)?;
            let recs: Vec<Rating> = p.good.iter().map(|g| g.record.clone()).collect();
            let res = store.ingest_ratings(source, &recs).await?;
            Ok(report(p, &res))
        }
    }
}

fn report<T>(p: Parsed<T>, res: &[Ingested]) -> ImportReport {
    let mut r = ImportReport { rows: p.rows, rejected: p.bad, ..ImportReport::default() };
    for (g, x) in p.good.iter().zip(res) {
        match x {
            Ingested::Stored => r.imported += 1,
            Ingested::Duplicate => r.duplicates += 1,
            Ingested::Conflict => r.conflicts.push((g.line, g.id.clone())),
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownHalls {
        KnownHalls { halls: [("h".to_owned(), vec!["HT".to_owned()])].into_iter().collect() }
    }

    #[test]
    fn bad_rows_are_named_by_line_and_column() {
        let csv = "event_id,hall,ticket_id,kind,at,number,field,counter\n\
                   e1,h,t1,issued,2026-12-01T08:00:00+07:00,A001,HT,\n\
                   e2,h,t1,called,yesterday,,,3\n\
                   e3,h,t1,called,2026-12-01T08:05:00+07:00,,,x\n\
                   e4,h,t1,issued,2026-12-01T08:00:00+07:00,A001,XX,\n\
                   e5,h,t1\n\
                   e6,nohall,t1,removed,2026-12-01T08:00:00+07:00,,,\n";
        let p = parse_csv::<TicketEventIn>(csv.as_bytes(), &known()).unwrap();
        assert_eq!(p.rows, 6);
        assert_eq!(p.good.len(), 1);
        let got: Vec<(u64, Option<&str>)> = p.bad.iter().map(|b| (b.line, b.column.as_deref())).collect();
        assert_eq!(got, vec![(3, Some("at")), (4, Some("counter")), (5, Some("field")), (6, None), (7, Some("hall"))]);
    }

    #[test]
    fn malformed_files_are_refused_whole() {
        let k = known();
        assert!(matches!(parse_csv::<TicketEventIn>(b"event_id,hall\n", &k), Err(CsvError::Header(_))));
        let bad_utf8 = b"event_id,hall,ticket_id,kind,at\ne1,h,t,removed,2026-12-01T08:00:00+07:00\ne2,\xff,t,removed,x\n";
        assert!(matches!(parse_csv::<TicketEventIn>(bad_utf8, &k), Err(CsvError::NotUtf8 { line: 3, .. })));
        let quote = "event_id,hall,ticket_id,kind,at\n\"e1,h,t,removed,2026-12-01T08:00:00+07:00\n";
        assert!(matches!(parse_csv::<TicketEventIn>(quote.as_bytes(), &k), Err(CsvError::UnclosedQuote)));
        let unknown = "event_id,hall,ticket_id,kind,at,colour\n";
        assert!(matches!(parse_csv::<TicketEventIn>(unknown.as_bytes(), &k), Err(CsvError::Header(m)) if m.contains("colour")));
    }

    #[test]
    fn lists_are_semicolon_separated() {
        let csv = "rating_id,hall,at,scale,score,reasons\nr1,h,2026-12-01T08:00:00+07:00,five,2,Chờ lâu; Thái độ\n";
        let p = parse_csv::<RatingIn>(csv.as_bytes(), &known()).unwrap();
        assert_eq!(p.good[0].record.reasons, vec!["Chờ lâu".to_owned(), "Thái độ".to_owned()]);
    }
}
