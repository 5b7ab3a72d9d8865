//! closebook's benchmark: a deterministic generator of a large ledger (`generate`), the raw-SQLite
//! insert ceiling (`baseline`), the measurements of closebook's real code paths and of the peers
//! hledger and ledger (`measure`), the results table (`results`) and the close workspace server
//! under load (`serve_load`), `closebook verify` from a checkpoint (`verify_load`), and an import into the full ledger
//! beside the same import into an empty one (`grow_load`), and the ledger in SQLite and PostgreSQL
//! side by side (`postgres`). The binary
//! `closebook-bench` drives them; see the README's Performance section.

pub mod baseline;
pub mod generate;
pub mod grow_load;
pub mod measure;
pub mod postgres;
pub mod progress;
pub mod results;
pub mod serve_load;
pub mod verify_load;
