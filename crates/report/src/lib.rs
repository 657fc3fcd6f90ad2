//! Renderers: pure functions from results to text or bytes (text tables,
//! Markdown, HTML, SVG, JSON). No I/O; the binary decides where the bytes go.

#![deny(missing_docs)]

pub mod bench;
pub mod components;
pub mod cost;
pub mod history;
pub mod html;
pub mod json;
pub mod markdown;
pub mod number;
pub mod overview;
pub mod plan;
pub mod probe;
pub mod responses;
pub mod search;
pub mod stages;
pub mod suite;
pub mod svg;
pub mod table;
pub mod terminal;
pub mod usl_table;
pub mod workers;
