//! One file per command group; each command turns its arguments into calls
//! of the job library, prints through `output` and returns its exit code
//! through `exit`.

pub mod analyse;
pub mod history;
pub mod load;
pub mod probe;
pub mod run;
pub mod watch;
pub mod worker;
