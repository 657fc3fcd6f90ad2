//! Streamed responses (`--stream`): counting the events of a body as its
//! bytes arrive, with the time each was complete, so a scenario sees time
//! to first event, the gaps between events and events per response — the
//! figures of an LLM-backed API that streams tokens — not only the time
//! to the last byte.
//!
//! Two formats: Server-Sent Events (`text/event-stream`, WHATWG HTML
//! §9.2: lines end in CRLF, LF or CR; an event is dispatched by a blank
//! line when it has a `data` field; `:` lines are comments) and lines (one
//! event per non-empty newline-delimited line, as JSON-lines streams
//! send). An optional terminator (`[DONE]`) ends the stream and is not
//! counted. Pure and incremental: bytes go in as they are read, nothing
//! is buffered beyond the start of the current line.

use std::time::Instant;

/// How a streamed body is cut into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// Server-Sent Events.
    Sse,
    /// One event per non-empty line.
    Lines,
}

/// The streaming options of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// The format.
    pub format: StreamFormat,
    /// The data (SSE) or line (lines) that ends the stream, not an event.
    pub done: Option<String>,
}

/// The most bytes of a line kept to tell its field and compare it with
/// the terminator; the rest of a longer line is only counted.
const LINE_KEEP: usize = 256;

/// Counts one response's events as its body arrives.
#[derive(Debug, Clone)]
pub struct EventScanner {
    format: StreamFormat,
    done: Option<Box<[u8]>>,
    line: Vec<u8>,
    line_len: usize,
    after_cr: bool,
    event_has_data: bool,
    event_is_done: bool,
    last_event: Option<Instant>,
    /// Events counted (the terminator excluded).
    pub events: u32,
    /// When the first event was complete.
    pub first_event: Option<Instant>,
    /// The gap before each event after the first, microseconds.
    pub gaps_us: Vec<u64>,
    /// Whether the terminator came.
    pub saw_done: bool,
}

impl EventScanner {
    /// A scanner for `spec`'s format.
    pub fn new(spec: &StreamSpec) -> Self {
        EventScanner {
            format: spec.format,
            done: spec.done.as_ref().map(|d| d.as_bytes().into()),
            line: Vec::with_capacity(LINE_KEEP),
            line_len: 0,
            after_cr: false,
            event_has_data: false,
            event_is_done: false,
            last_event: None,
            events: 0,
            first_event: None,
            gaps_us: Vec::new(),
            saw_done: false,
        }
    }

    /// Whether a terminator is expected.
    pub fn expects_done(&self) -> bool {
        self.done.is_some()
    }

    /// Ready for the next response.
    pub fn reset(&mut self) {
        self.line.clear();
        self.line_len = 0;
        self.after_cr = false;
        self.event_has_data = false;
        self.event_is_done = false;
        self.last_event = None;
        self.events = 0;
        self.first_event = None;
        self.gaps_us.clear();
        self.saw_done = false;
    }

    /// Takes body bytes that arrived at `at`.
    pub fn feed(&mut self, bytes: &[u8], at: Instant) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.push(&rest[..end]);
                    self.after_cr = rest[end] == b'\r';
                    self.end_line(at);
                    rest = &rest[end + 1..];
                }
                None => {
                    self.push(rest);
                    rest = &[];
                }
            }
        }
    }

    /// The body ended at `at`: a last line without its newline still
    /// counts in lines mode (an SSE event without its blank line is
    /// incomplete and, as browsers do, not dispatched).
    pub fn finish(&mut self, at: Instant) {
        if self.format == StreamFormat::Lines && self.line_len > 0 {
            self.end_line(at);
        }
    }

    fn push(&mut self, part: &[u8]) {
        let room = LINE_KEEP.saturating_sub(self.line.len());
        self.line.extend_from_slice(&part[..part.len().min(room)]);
        self.line_len += part.len();
    }

    fn is_done(&self, value: &[u8], whole: bool) -> bool {
        whole && self.done.as_deref().is_some_and(|d| d == value)
    }

    fn end_line(&mut self, at: Instant) {
        let whole = self.line_len == self.line.len();
        match self.format {
            StreamFormat::Lines => {
                if self.line_len > 0 {
                    if self.is_done(&self.line, whole) {
                        self.saw_done = true;
                    } else {
                        self.count(at);
                    }
                }
            }
            StreamFormat::Sse => {
                if self.line_len == 0 {
                    // A blank line dispatches the event, if it has data.
                    if self.event_has_data {
                        if self.event_is_done {
                            self.saw_done = true;
                        } else {
                            self.count(at);
                        }
                    }
                    self.event_has_data = false;
                    self.event_is_done = false;
                } else if let Some(value) = self.line.strip_prefix(b"data") {
                    if value.is_empty() || value[0] == b':' {
                        let value = value.strip_prefix(b":").unwrap_or(value);
                        let value = value.strip_prefix(b" ").unwrap_or(value);
                        // One data line that is the terminator makes the event one.
                        self.event_is_done = !self.event_has_data && self.is_done(value, whole);
                        self.event_has_data = true;
                    }
                }
                // Comments (`:`), other fields and unknown lines: nothing.
            }
        }
        self.line.clear();
        self.line_len = 0;
    }

    fn count(&mut self, at: Instant) {
        self.events += 1;
        match self.last_event {
            None => self.first_event = Some(at),
            Some(last) => {
                let gap = at.saturating_duration_since(last);
                self.gaps_us
                    .push(u64::try_from(gap.as_micros()).unwrap_or(u64::MAX));
            }
        }
        self.last_event = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sse(done: Option<&str>) -> EventScanner {
        EventScanner::new(&StreamSpec {
            format: StreamFormat::Sse,
            done: done.map(String::from),
        })
    }

    #[test]
    fn sse_events_are_counted_when_a_blank_line_ends_them_whatever_the_cuts() {
        let body = b"id: 0\ndata: {\"event\":0}\n\n: keep-alive\n\nevent: x\r\ndata: a\r\ndata: b\r\n\r\ndata\n\nretry: 10\n\n";
        let t0 = Instant::now();
        // every way of cutting the body into two reads counts the same
        for cut in 0..body.len() {
            let mut s = sse(None);
            s.feed(&body[..cut], t0);
            s.feed(&body[cut..], t0 + Duration::from_millis(5));
            s.finish(t0);
            assert_eq!(s.events, 3, "cut at {cut}");
        }
        // a CR at the end of one read and its LF at the start of the next
        let mut s = sse(None);
        s.feed(b"data: x\r", t0);
        s.feed(b"\n\r\n", t0);
        assert_eq!(s.events, 1);
    }

    #[test]
    fn gaps_and_first_event_come_from_the_read_that_completed_each_event() {
        let t0 = Instant::now();
        let mut s = sse(None);
        for i in 0..5u64 {
            s.feed(b"data: tok\n\n", t0 + Duration::from_millis(10 + 5 * i));
        }
        assert_eq!(s.events, 5);
        assert_eq!(s.first_event, Some(t0 + Duration::from_millis(10)));
        assert_eq!(s.gaps_us, vec![5000; 4]);
        s.reset();
        assert_eq!((s.events, s.gaps_us.len(), s.first_event), (0, 0, None));
    }

    #[test]
    fn the_terminator_ends_the_stream_and_is_not_an_event() {
        let t0 = Instant::now();
        let mut s = sse(Some("[DONE]"));
        s.feed(b"data: {\"t\":1}\n\ndata: [DONE] \n\ndata:[DONE]\n\n", t0);
        // "[DONE] " (trailing space) is data, "[DONE]" the terminator
        assert_eq!(s.events, 2);
        assert!(s.saw_done);
        let mut lines = EventScanner::new(&StreamSpec {
            format: StreamFormat::Lines,
            done: Some("[DONE]".into()),
        });
        lines.feed(b"{\"a\":1}\n\n{\"a\":2}\r\n[DONE]", t0);
        lines.finish(t0);
        assert_eq!(lines.events, 2);
        assert!(lines.saw_done);
    }

    #[test]
    fn long_lines_are_counted_without_being_kept() {
        let t0 = Instant::now();
        let mut s = EventScanner::new(&StreamSpec {
            format: StreamFormat::Lines,
            done: None,
        });
        let long = vec![b'x'; 10 * LINE_KEEP];
        s.feed(&long, t0);
        s.feed(b"\nlast", t0);
        s.finish(t0);
        assert_eq!(s.events, 2);
        assert!(s.line.capacity() <= 2 * LINE_KEEP);
    }
}
