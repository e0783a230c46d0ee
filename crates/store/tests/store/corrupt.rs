//! A stored value that does not decode is an error when it is read, never a default: money
//! rules that silently fell back to defaults would change what every purchase earns.

use crate::support::Ledger;
use kopilka_store::StoreError;

async fn corrupt_program_rules_are_an_error(l: Ledger) {
    let program = l.program;
    l.raw_sql(&format!(
        "UPDATE programs SET rules = '{{\"earn_bps\": \"a lot\"}}' WHERE id = {program}"
    ))
    .await;
    let read = l
        .store
        .read(move |tx| Box::pin(async move { tx.program(program).await }))
        .await;
    assert!(
        matches!(read, Err(StoreError::Corrupt(ref what)) if what.contains("rules")),
        "{}: {read:?}",
        l.name()
    );
}

on_both_stores!(corrupt_program_rules_are_an_error);
