//! `hallwatch import` end to end: the real binary on generated CSV files, a real SQLite database.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::service::{config, scalar};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn import(dir: &Path, kind: &str, csv: &[u8]) -> Run {
    let cfg = dir.join("hallwatch.toml");
    if !cfg.exists() {
        std::fs::write(&cfg, config(dir, 1)).expect("config");
    }
    let file = dir.join(format!("{kind}.csv"));
    std::fs::write(&file, csv).expect("csv");
    let out = Command::new(common::bin())
        .args(["import", kind])
        .arg(&file)
        .arg("--config")
        .arg(&cfg)
        .output()
        .expect("run hallwatch import");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const TICKET_HEADER: &str = "event_id,hall,ticket_id,kind,at,number,field,counter,officer,to_field,to_counter,channel,priority";

/// Data row `k` of a realistic day: ticket k/4 is issued, called, started and finished.
fn good_row(k: usize) -> String {
    let t = k / 4;
    let base = 7 * 3600 + 30 * 60 + t * 10; // one arrival every 10 s from 07:30
    let (kind, offset) = [("issued", 0), ("called", 420), ("service_started", 450), ("finished", 900)][k % 4];
    let s = base + offset;
    let at = format!("2026-12-01T{:02}:{:02}:{:02}+07:00", s / 3600, s / 60 % 60, s % 60);
    let counter = 1 + t % 8;
    let field = if t.is_multiple_of(3) { "DD" } else { "HT" };
    match kind {
        "issued" => format!("e{k},h,t{t},issued,{at},A{:03},{field},,,,,kiosk,0", t % 1000),
        _ => format!("e{k},h,t{t},{kind},{at},,,{counter},\"Nguyễn Văn {counter}, cán bộ\",,,,"),
    }
}

/// A bad version of row `k`, for reason `r`.
fn bad_row(k: usize, r: usize) -> String {
    match r % 10 {
        0 => format!("e{k},h,t{k},called,2026-12-01 25:00,,,3,,,,,"),
        1 => format!("e{k},h,t{k},teleported,2026-12-01T08:00:00+07:00,,,3,,,,,"),
        2 => format!("e{k},h,t{k},issued,2026-12-01T08:00:00+07:00,,HT,,,,,kiosk,0"),
        3 => format!("e{k},h,t{k},called,2026-12-01T08:00:00+07:00,,,0,,,,,"),
        4 => format!("e{k},h,t{k},called,2026-12-01T08:00:00+07:00"),
        5 => format!("e{k},h,t{k},called,2026-12-01T08:00:00+07:00,,,abc,,,,,"),
        6 => format!("e{k},nowhere,t{k},removed,2026-12-01T08:00:00+07:00,,,,,,,,"),
        7 => format!("e{k},h,t{k},issued,2026-12-01T08:00:00+07:00,Z001,ZZ,,,,,kiosk,0"),
        8 => format!("e{k},h,t{k},issued,2026-12-01T08:00:00+07:00,A001,HT,,,,,kiosk,12"),
        _ => format!(",h,t{k},removed,2026-12-01T08:00:00+07:00,,,,,,,,"),
    }
}

#[test]
fn ten_thousand_rows_with_37_bad_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad: Vec<usize> = (0..37).map(|j| 137 + 269 * j).collect();
    let mut csv = String::from(TICKET_HEADER) + "\n";
    for k in 0..10_000 {
        let row = match bad.iter().position(|&b| b == k) {
            Some(j) => bad_row(k, j),
            None => good_row(k),
        };
        csv += &row;
        csv += "\n";
    }
    let r = import(dir.path(), "tickets", csv.as_bytes());
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    // Row k is on line k + 2 (the header is line 1).
    let want: BTreeSet<u64> = bad.iter().map(|&k| k as u64 + 2).collect();
    let got: BTreeSet<u64> = r
        .stderr
        .lines()
        .filter_map(|l| l.split(": line ").nth(1)?.split(':').next()?.parse().ok())
        .collect();
    assert_eq!(got, want, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 37, "{}", r.stderr);
    for column in ["`at`", "`kind`", "`number`", "`counter`", "`hall`", "`field`", "`priority`", "`event_id`", "has 5 cells"] {
        assert!(r.stderr.contains(column), "no bad row names {column}: {}", r.stderr);
    }
    assert!(r.stdout.contains("10000 rows read, 9963 imported, 0 duplicates, 0 conflicts, 37 rejected"), "{}", r.stdout);
    let db = dir.path().join("hallwatch.db");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    assert_eq!(rt.block_on(scalar(&db, "SELECT COUNT(*) FROM ticket_event")), 9963);
    // One store call, one transaction: every row carries the same receive time.
    assert_eq!(rt.block_on(scalar(&db, "SELECT COUNT(DISTINCT received_us) FROM ticket_event")), 1);
    assert!(rt.block_on(scalar(&db, "SELECT COUNT(*) FROM ticket WHERE outcome = 'served'")) > 2000);
    // Quoted cells with commas survive.
    assert!(rt.block_on(scalar(&db, "SELECT COUNT(*) FROM ticket_event WHERE officer_id = 'Nguyễn Văn 3, cán bộ'")) > 0);

    // Importing the same file again imports nothing new.
    let again = import(dir.path(), "tickets", csv.as_bytes());
    assert_eq!(again.code, 2);
    assert!(again.stdout.contains("0 imported, 9963 duplicates"), "{}", again.stdout);
    assert_eq!(rt.block_on(scalar(&db, "SELECT COUNT(*) FROM ticket_event")), 9963);
}

#[test]
fn malformed_files_import_nothing() {
    let mut rows = String::from(TICKET_HEADER) + "\n";
    for k in 0..400 {
        rows += &good_row(k);
        rows += "\n";
    }
    let mut not_utf8 = rows.clone().into_bytes();
    let mid = not_utf8.len() / 2;
    not_utf8.splice(mid..mid, [0xff, 0xfe]);
    let missing_column = rows.replacen("event_id,hall,", "hall,", 1).replace("\ne", "\n");
    let unknown_column = rows.replacen(",priority\n", ",priority,colour\n", 1);
    let unclosed = rows.replacen("\"Nguyễn Văn 2, cán bộ\"", "\"Nguyễn Văn 2, cán bộ", 1);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("invalid UTF-8 in the middle", not_utf8, "not UTF-8"),
        ("missing header column", missing_column.into_bytes(), "missing required column(s) event_id"),
        ("unknown header column", unknown_column.into_bytes(), "unknown column `colour`"),
        ("unclosed quote", unclosed.into_bytes(), "never closed"),
        ("empty file", Vec::new(), "empty"),
    ];
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for (what, data, reason) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = import(dir.path(), "tickets", &data);
        assert_eq!(r.code, 1, "{what}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("nothing imported") && r.stderr.contains(reason), "{what}: {}", r.stderr);
        let db = dir.path().join("hallwatch.db");
        // The database may not even exist when the file was refused before opening it.
        if db.exists() {
            assert_eq!(rt.block_on(scalar(&db, "SELECT COUNT(*) FROM ticket_event")), 0, "{what}");
        }
    }
}

#[test]
fn dossiers_and_ratings_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dossiers = "\u{feff}hall,code,procedure_code,procedure_name,field,channel,received_at,due_at,returned_at,status,counter,officer,tickets\n\
        h,000.00.01.H29-261201-0001,2.000635,Đăng ký khai sinh,HT,in_person,2026-12-01T08:10:00+07:00,2026-12-03T17:00:00+07:00,2026-12-03T10:00:00+07:00,10,3,cb01,t1;t2\n\
        h,000.00.01.H29-261201-0002,1.001612,\"Chứng thực bản sao, điện tử\",HT,2,2026-12-01T09:00:00+07:00,2026-12-01T17:00:00+07:00,,4,,,\n\
        h,000.00.01.H29-261201-0003,1.004227,Cấp giấy chứng nhận quyền sử dụng đất,DD,postal,2026-12-01T09:30:00+07:00,2026-12-31T17:00:00+07:00,,2,5,cb02,t9\n";
    let r = import(dir.path(), "dossiers", dossiers.as_bytes());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("3 rows read, 3 imported"), "{}", r.stdout);
    let ratings = "rating_id,hall,at,scale,score,ticket_id,dossier_code,counter,officer,reasons,comment,device_id\n\
        r1,h,2026-12-01T08:30:00+07:00,five,2,t1,000.00.01.H29-261201-0001,3,cb01,Chờ lâu; Thái độ chưa tốt,\"Đợi 40 phút, không ai hướng dẫn\",tab-3\n\
        r2,h,2026-12-01T08:40:00+07:00,three,3,t2,,3,cb01,,,tab-3\n\
        r3,h,2026-12-01T08:50:00+07:00,five,6,t3,,3,cb01,,,tab-3\n";
    let r = import(dir.path(), "ratings", ratings.as_bytes());
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("line 4: column `score`"), "{}", r.stderr);
    let db = dir.path().join("hallwatch.db");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    assert_eq!(rt.block_on(scalar(&db, "SELECT COUNT(*) FROM dossier")), 3);
    assert_eq!(rt.block_on(scalar(&db, "SELECT COUNT(*) FROM dossier_ticket")), 3);
    assert_eq!(rt.block_on(scalar(&db, "SELECT COUNT(*) FROM rating")), 2);
    assert_eq!(rt.block_on(scalar(&db, "SELECT COUNT(*) FROM rating WHERE reasons = '[\"Chờ lâu\",\"Thái độ chưa tốt\"]' AND NOT satisfied")), 1);
    let again = import(dir.path(), "dossiers", dossiers.as_bytes());
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("0 imported, 3 duplicates"), "{}", again.stdout);
}
