//! Where a chunked body ends (RFC 9112 §7.1), found as its bytes pass
//! through: the proxy forwards chunks as they are and only needs to know
//! which bytes belong to this message. Strict about line endings (a bare
//! LF is refused: lenient parsers disagreeing is how requests are
//! smuggled) and bounded in what it holds: nothing but a few counters.

/// The longest chunk-size line (size, extensions) accepted.
pub const MAX_SIZE_LINE: usize = 4096;
/// The most bytes of trailer fields accepted.
pub const MAX_TRAILERS: usize = 64 * 1024;

/// A chunked body that breaks the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body: {0}")]
pub struct BadChunk(&'static str);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In the hex size; `digits` so far.
    Size {
        size: u64,
        digits: u8,
    },
    /// After the size: extensions until CR.
    Extension {
        size: u64,
    },
    /// Expecting LF of the size line.
    SizeLf {
        size: u64,
    },
    /// Inside chunk data, this many bytes left.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final blank line).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    TrailerLf,
    FinalLf,
    Done,
}

/// Tracks one chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunked {
    state: State,
    /// Bytes of the current size line, or of all trailers.
    line: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Self::new()
    }
}

impl Chunked {
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: State::Size { size: 0, digits: 0 },
            line: 0,
        }
    }

    /// Whether the body has ended.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads `bytes`, the next bytes after those already seen; returns how
    /// many of them belong to the body (all of them, unless it ends
    /// inside).
    pub fn advance(&mut self, bytes: &[u8]) -> Result<usize, BadChunk> {
        let mut at = 0;
        while at < bytes.len() {
            if let State::Data(left) = self.state {
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len() - at);
                at += take;
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data(left)
                };
                continue;
            }
            if self.state == State::Done {
                break;
            }
            self.step(bytes[at])?;
            at += 1;
        }
        Ok(at)
    }

    fn step(&mut self, byte: u8) -> Result<(), BadChunk> {
        self.state = match self.state {
            State::Size { size, digits } => {
                self.count_line(MAX_SIZE_LINE)?;
                match hex(byte) {
                    Some(value) if digits < 16 => State::Size {
                        size: size << 4 | u64::from(value),
                        digits: digits + 1,
                    },
                    Some(_) => return Err(BadChunk("chunk size too large")),
                    None if digits == 0 => return Err(BadChunk("no chunk size")),
                    None => match byte {
                        b'\r' => State::SizeLf { size },
                        b';' | b' ' | b'\t' => State::Extension { size },
                        _ => return Err(BadChunk("bad chunk size")),
                    },
                }
            }
            State::Extension { size } => {
                self.count_line(MAX_SIZE_LINE)?;
                match byte {
                    b'\r' => State::SizeLf { size },
                    b'\n' => return Err(BadChunk("bare LF")),
                    _ => State::Extension { size },
                }
            }
            State::SizeLf { size } => {
                expect(byte, b'\n')?;
                self.line = 0;
                if size == 0 {
                    State::TrailerStart
                } else {
                    State::Data(size)
                }
            }
            State::Data(_) | State::Done => unreachable!("handled in advance"),
            State::DataCr => {
                expect(byte, b'\r')?;
                State::DataLf
            }
            State::DataLf => {
                expect(byte, b'\n')?;
                State::Size { size: 0, digits: 0 }
            }
            State::TrailerStart => {
                self.count_line(MAX_TRAILERS)?;
                match byte {
                    b'\r' => State::FinalLf,
                    b'\n' => return Err(BadChunk("bare LF")),
                    _ => State::Trailer,
                }
            }
            State::Trailer => {
                self.count_line(MAX_TRAILERS)?;
                match byte {
                    b'\r' => State::TrailerLf,
                    b'\n' => return Err(BadChunk("bare LF")),
                    _ => State::Trailer,
                }
            }
            State::TrailerLf => {
                expect(byte, b'\n')?;
                State::TrailerStart
            }
            State::FinalLf => {
                expect(byte, b'\n')?;
                State::Done
            }
        };
        Ok(())
    }

    fn count_line(&mut self, limit: usize) -> Result<(), BadChunk> {
        self.line += 1;
        if self.line > limit {
            return Err(BadChunk("line too long"));
        }
        Ok(())
    }
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn expect(byte: u8, wanted: u8) -> Result<(), BadChunk> {
    if byte == wanted {
        Ok(())
    } else {
        Err(BadChunk("expected CRLF"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Result<(usize, bool), BadChunk> {
        let mut body = Chunked::new();
        let mut total = 0;
        for chunk in chunks {
            total += body.advance(chunk)?;
        }
        Ok((total, body.is_done()))
    }

    #[test]
    fn a_body_ends_after_the_last_chunk_and_trailers() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-sum: 1\r\n\r\nGET /next";
        assert_eq!(run(&[body]), Ok((body.len() - 9, true)));
    }

    #[test]
    fn split_anywhere_it_ends_at_the_same_byte() {
        let body = b"a\r\n0123456789\r\n0\r\n\r\n";
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(run(&[a, b]), Ok((body.len(), true)), "split at {split}");
        }
    }

    #[test]
    fn unfinished_bodies_are_not_done() {
        assert_eq!(run(&[b"5\r\nhel"]), Ok((6, false)));
        assert_eq!(run(&[b"0\r\n"]), Ok((3, false)));
    }

    #[test]
    fn bare_lf_bad_sizes_and_overlong_lines_are_refused() {
        assert!(run(&[b"5\nhello\r\n0\r\n\r\n"]).is_err());
        assert!(run(&[b"5\r\nhello\n0\r\n\r\n"]).is_err());
        assert!(run(&[b"0\r\n\n"]).is_err());
        assert!(run(&[b"x\r\n"]).is_err());
        assert!(run(&[b"\r\n"]).is_err());
        assert!(run(&[b"11111111111111111\r\n"]).is_err());
        let long = [b"1;".as_slice(), &[b'a'; MAX_SIZE_LINE]].concat();
        assert!(run(&[&long]).is_err());
    }
}
