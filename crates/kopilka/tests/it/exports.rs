//! Exports (docs/exports.md) read back by tools that share no code with kopilka — openpyxl for
//! XLSX, a plain split for CSV — against the listings they export: the same rows in the same
//! order across more than one store page, amounts as numbers with the currency's decimals, times
//! as dates in the program's zone, formula-like text neutralised, both CSV dialects.

use crate::common::TestApp;
use chrono::TimeZone;
use reqwest::StatusCode;
use serde_json::{json, Value};

const PROGRAM: i64 = 1;
/// More than one page of the store's reads (1 000 rows).
const ACCRUALS: usize = 1_005;

both_stores!(exports_are_the_listing_s_rows_as_typed_cells);
async fn exports_are_the_listing_s_rows_as_typed_cells(app: TestApp) {
    let (_, program) = app.get(&format!("/v1/programs/{PROGRAM}")).await;
    let mut rules = program["rules"].clone();
    rules["time_zone"] = json!("Europe/Kyiv");
    let mut settings = program["settings"].clone();
    settings["point_value"] = json!({"money_minor": 1, "points_minor": 3});
    let (status, updated) = app
        .send_put(
            &format!("/v1/programs/{PROGRAM}"),
            &json!({"code": program["code"], "name": program["name"], "rules": rules, "settings": settings}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let member = app
        .create_customer(json!({"program_id": PROGRAM, "phone": "380675550001"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let descriptions = ["=1+2", "+7", "-3 points", "@SUM(A1)", "plain; \"quoted\""];
    for chunk in (0..ACCRUALS).collect::<Vec<_>>().chunks(50) {
        futures::future::join_all(chunk.iter().map(|i| {
            let description = descriptions[i % descriptions.len()];
            app.create(
                "/v1/operations",
                json!({"kind": "accrue", "customer_id": member, "reason": "test", "amount": format!("{}.{:02}", i / 100, i % 100 + 1), "description": description}),
            )
        }))
        .await;
    }
    let filter = format!("program_id={PROGRAM}&customer_id={member}&kind=accrue");
    let listed = app.all_pages(&format!("/v1/operations?{filter}")).await;
    assert_eq!(listed.len(), ACCRUALS);
    let kyiv: chrono_tz::Tz = "Europe/Kyiv".parse().unwrap();
    let local = |ms: i64| kyiv.timestamp_millis_opt(ms).unwrap().naive_local();

    // XLSX: the same rows, typed.
    let sheets = xlsx(&app, &format!("/v1/operations/export.xlsx?{filter}")).await;
    let rows = sheets[0]["rows"].as_array().unwrap();
    let header: Vec<&str> = rows[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    assert_eq!(rows.len() - 1, listed.len());
    for (row, op) in rows[1..].iter().zip(&listed) {
        assert_eq!(row[column("id")]["value"], op["id"]);
        let amount = &row[column("amount")];
        assert_eq!(amount["type"], "number", "{amount}");
        assert_eq!(amount["format"], "#,##0.00");
        let minor = op["amount_minor"].as_i64().unwrap();
        assert_eq!(amount["value"].as_f64().unwrap(), minor as f64 / 100.0);
        let created = &row[column("created_at")];
        assert_eq!(created["type"], "date", "{created}");
        assert_eq!(
            created["value"],
            local(op["created_at"].as_i64().unwrap())
                .format("%Y-%m-%d %H:%M:%S%.6f")
                .to_string()
        );
        let description = op["description"].as_str().unwrap();
        let expected = match description.chars().next() {
            Some('=' | '+' | '-' | '@') => format!("'{description}"),
            _ => description.to_string(),
        };
        assert_eq!(row[column("description")]["value"], expected);
        assert_eq!(row[column("customer_id")]["type"], "number");
    }

    // CSV, both dialects: the same rows.
    let comma = csv(&app, &format!("/v1/operations/export.csv?{filter}")).await;
    assert!(
        comma.starts_with("id,created_at,program_id,"),
        "{comma:.80}"
    );
    let lines: Vec<&str> = comma.split_terminator("\r\n").collect();
    assert_eq!(lines.len() - 1, listed.len());
    let first = &listed[0];
    let expected_start = format!(
        "{},{},{PROGRAM},{member},,accrue,confirmed,{},{},0.00,",
        first["id"],
        local(first["created_at"].as_i64().unwrap()).format("%Y-%m-%d %H:%M:%S"),
        first["amount"].as_str().unwrap(),
        first["currency"].as_str().unwrap()
    );
    assert!(lines[1].starts_with(&expected_start), "{}", lines[1]);
    assert!(comma.contains(",'=1+2,") && comma.contains(",\"plain; \"\"quoted\"\"\","));
    let semicolon = csv(
        &app,
        &format!("/v1/operations/export.csv?{filter}&dialect=excel-semicolon"),
    )
    .await;
    assert!(semicolon.starts_with("\u{feff}id;created_at;program_id;"));
    let first_semicolon = semicolon.split_terminator("\r\n").nth(1).unwrap();
    assert!(
        first_semicolon.contains(&format!(
            ";{};",
            first["amount"].as_str().unwrap().replace('.', ",")
        )),
        "{first_semicolon}"
    );
    assert!(semicolon.contains(";'=1+2;") && semicolon.contains(";\"plain; \"\"quoted\"\"\";"));

    // The listing's own checks; and what an export has no use for.
    for (path, field) in [
        ("/v1/operations/export.csv?kind=nonsense", "kind"),
        (
            "/v1/operations/export.xlsx?dialect=excel-semicolon",
            "dialect",
        ),
        ("/v1/operations/export.csv?dialect=tabs", "dialect"),
        ("/v1/operations/export.csv?limit=10", "limit"),
    ] {
        let (status, error) = app.get(path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {error}");
        assert_eq!(error["error"]["field"], field, "{path}");
    }

    // Customers with their balances, as listed.
    let customers = app
        .all_pages(&format!("/v1/customers?program_id={PROGRAM}"))
        .await;
    let sheets = xlsx(
        &app,
        &format!("/v1/customers/export.xlsx?program_id={PROGRAM}"),
    )
    .await;
    let rows = &sheets[0]["rows"].as_array().unwrap()[1..];
    assert_eq!(rows.len(), customers.len());
    for (row, customer) in rows.iter().zip(&customers) {
        assert_eq!(row[0]["value"], customer["id"]);
        let (_, balances) = app
            .get(&format!("/v1/customers/{}/balances", customer["id"]))
            .await;
        let balance = balances[0]["balance_minor"].as_i64().unwrap();
        assert_eq!(row[7]["type"], "number");
        assert_eq!(row[7]["value"].as_f64().unwrap(), balance as f64 / 100.0);
    }

    // Liability, lot by lot, sums to the analytics' liability.
    let (_, analytics) = app.get(&format!("/v1/programs/{PROGRAM}/analytics")).await;
    let liability = csv(
        &app,
        &format!("/v1/programs/{PROGRAM}/liability/export.csv"),
    )
    .await;
    let mut lines = liability.split_terminator("\r\n");
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let remaining = header.iter().position(|h| *h == "remaining").unwrap();
    let owed: i64 = lines
        .map(|line| {
            let cell = line.split(',').nth(remaining).unwrap();
            cell.replace('.', "").parse::<i64>().unwrap()
        })
        .sum();
    assert!(owed > 0);
    assert_eq!(analytics["liability"]["points_minor"], owed);
    let (status, _) = app.get("/v1/programs/999/liability/export.xlsx").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn csv(app: &TestApp, path: &str) -> String {
    let response = app.get_response(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// The workbook at `path` as openpyxl reads it (tests/it/xlsx_cells.py).
async fn xlsx(app: &TestApp, path: &str) -> Value {
    let response = app.get_response(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.xlsx");
    std::fs::write(&file, response.bytes().await.unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/xlsx_cells.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(&file)
        .output()
        .expect("python3 runs (./scripts/test installs openpyxl)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
