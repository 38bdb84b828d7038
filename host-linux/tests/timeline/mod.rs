//! The differential timeline suite (`daemon_timeline`): a scenario is a file under
//! `tests/timelines/`, run once with two keepalived and once with two vigild in
//! namespaces; the two timelines must agree. The format and how to add a scenario:
//! `docs/timelines.md`.

pub mod compare;
pub mod known;
pub mod run;
pub mod scenario;
