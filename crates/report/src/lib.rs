//! Renderers: pure functions from results to text or bytes. No I/O; the
//! binary decides where the bytes go.

#![deny(missing_docs)]

pub mod html;
pub mod markdown;
pub mod svg;
