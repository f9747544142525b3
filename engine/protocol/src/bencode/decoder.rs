//! The streaming reader: one forward pass over the input, each token
//! validated as it is read.
//!
//! [`Decoder::next_object`] hands out an [`Object`]; a list or dictionary
//! comes as a [`ListDecoder`] / [`DictDecoder`] that borrows the decoder and
//! reads its items on demand. Whatever a caller leaves unread (an unknown
//! key's value, the rest of a list) is skipped, still validated, the next
//! time its parent is asked for something, so a walk that descends only
//! where it needs to costs one pass over the input however deep the data is.
//!
//! The decoder keeps all its state in a few words (a depth counter and a
//! bit per open container saying whether it is a dictionary), so it
//! allocates nothing and recursion is the caller's choice. After the first
//! error every call returns that error again.

use std::cmp::Ordering;

use super::error::{BencodeError, IntError};
use super::Limits;

/// Most digits in an integer or a string length: `u64::MAX` has 20.
/// libtorrent refuses longer integers ("integer overflow"), even under keys
/// it ignores, so nothing real has them.
pub const MAX_DIGITS: usize = 20;

/// A bencoded integer as written: an optional `-` and 1 to [`MAX_DIGITS`]
/// digits. Kept as text so that a field's error can quote it; converted
/// when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Int<'a> {
    text: &'a str,
}

impl<'a> Int<'a> {
    /// The digits (and sign) as written, e.g. `"-3"` or `"007"`.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The value as an `i64`.
    pub fn to_i64(&self) -> Result<i64, IntError> {
        self.text.parse().map_err(|_| IntError::TooLarge)
    }

    /// The value as a size or count: `-0` is 0, anything else below zero is
    /// [`IntError::Negative`].
    pub fn to_u64(&self) -> Result<u64, IntError> {
        match self.text.strip_prefix('-') {
            Some(digits) if digits.bytes().all(|b| b == b'0') => Ok(0),
            Some(_) => Err(IntError::Negative),
            None => self.text.parse().map_err(|_| IntError::TooLarge),
        }
    }
}

/// One token of input.
enum Token<'a> {
    Int(Int<'a>),
    Bytes(&'a [u8]),
    List,
    Dict,
    End,
}

/// A value read by a [`Decoder`]. Lists and dictionaries borrow the decoder
/// until they are dropped.
#[derive(Debug)]
pub enum Object<'d, 'a> {
    /// `i...e`.
    Int(Int<'a>),
    /// `<len>:<bytes>`: the bytes.
    Bytes(&'a [u8]),
    /// `l...e`.
    List(ListDecoder<'d, 'a>),
    /// `d...e`.
    Dict(DictDecoder<'d, 'a>),
}

impl Object<'_, '_> {
    /// "an integer", "a byte string", "a list" or "a dictionary", for
    /// "expected X, found Y" errors.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Object::Int(_) => super::INT,
            Object::Bytes(_) => super::BYTES,
            Object::List(_) => super::LIST,
            Object::Dict(_) => super::DICT,
        }
    }
}

/// A bounded, validating, forward-only bencode reader over a byte slice.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    /// Bit `d` is set when the container open at depth `d + 1` is a dictionary.
    dicts: u128,
    /// In the innermost dictionary, a key has been read and its value is next.
    after_key: bool,
    /// Canonical mode: refuse leading zeros (and [`DictDecoder`] refuses
    /// unsorted or repeated keys).
    strict: bool,
    failed: Option<BencodeError>,
}

impl<'a> Decoder<'a> {
    /// A decoder over `buf`, refusing input longer than `limits.max_len`.
    pub fn new(buf: &'a [u8], limits: Limits) -> Result<Decoder<'a>, BencodeError> {
        if buf.len() > limits.max_len {
            return Err(BencodeError::TooLong {
                len: buf.len(),
                max: limits.max_len,
            });
        }
        Ok(Decoder {
            buf,
            pos: 0,
            depth: 0,
            max_depth: limits.max_depth.min(Limits::DEPTH_CAP),
            dicts: 0,
            after_key: false,
            strict: false,
            failed: None,
        })
    }

    /// A decoder for bytes that an earlier decoder already validated (the
    /// body of a [`super::Dict`] or [`super::List`]).
    pub(super) fn trusted(buf: &'a [u8]) -> Decoder<'a> {
        Decoder {
            buf,
            pos: 0,
            depth: 0,
            max_depth: Limits::DEPTH_CAP,
            dicts: 0,
            after_key: false,
            strict: false,
            failed: None,
        }
    }

    /// Canonical mode, for [`super::check_canonical`].
    pub(super) fn strict(mut self) -> Decoder<'a> {
        self.strict = true;
        self
    }

    /// Offset of the next unread byte.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next top-level value, or `None` at the end of the input. A value
    /// left partly read is skipped first.
    pub fn next_object(&mut self) -> Result<Option<Object<'_, 'a>>, BencodeError> {
        self.skip_to(0)?;
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let token = self.token()?;
        self.object(token, at).map(Some)
    }

    fn fail(&mut self, e: BencodeError) -> BencodeError {
        self.failed = Some(e.clone());
        e
    }

    fn token(&mut self) -> Result<Token<'a>, BencodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let read = self.read_token();
        read.map_err(|e| self.fail(e))
    }

    /// Reads tokens until the container open at depth `level` is innermost
    /// again (or, for `level - 1`, has been closed).
    fn skip_to(&mut self, level: usize) -> Result<(), BencodeError> {
        while self.depth > level {
            self.token()?;
        }
        Ok(())
    }

    fn in_dict(&self) -> bool {
        self.depth
            .checked_sub(1)
            .is_some_and(|d| (self.dicts >> d) & 1 == 1)
    }

    fn object(&mut self, token: Token<'a>, start: usize) -> Result<Object<'_, 'a>, BencodeError> {
        let level = self.depth;
        Ok(match token {
            Token::Int(i) => Object::Int(i),
            Token::Bytes(b) => Object::Bytes(b),
            Token::List => Object::List(ListDecoder {
                dec: self,
                start,
                level,
                done: false,
            }),
            Token::Dict => Object::Dict(DictDecoder {
                dec: self,
                start,
                level,
                done: false,
                prev: None,
            }),
            // The token reader refuses `e` where a value must be.
            Token::End => {
                return Err(self.fail(BencodeError::Unexpected {
                    at: start,
                    byte: b'e',
                }))
            }
        })
    }

    fn read_token(&mut self) -> Result<Token<'a>, BencodeError> {
        let at = self.pos;
        let Some(&first) = self.buf.get(at) else {
            return Err(BencodeError::Truncated { at: self.buf.len() });
        };
        let in_dict = self.in_dict();
        let expect_key = in_dict && !self.after_key;
        match first {
            b'0'..=b'9' => {
                let (bytes, end) = self.string(at)?;
                self.pos = end;
                if in_dict {
                    self.after_key = !self.after_key;
                }
                Ok(Token::Bytes(bytes))
            }
            b'i' | b'l' | b'd' if expect_key => Err(BencodeError::KeyNotString { at }),
            b'i' => {
                let (int, end) = self.integer(at)?;
                self.pos = end;
                self.after_key = false;
                Ok(Token::Int(int))
            }
            b'l' | b'd' => {
                if self.depth >= self.max_depth {
                    return Err(BencodeError::TooDeep {
                        max: self.max_depth,
                    });
                }
                let bit = 1u128 << self.depth;
                if first == b'd' {
                    self.dicts |= bit;
                } else {
                    self.dicts &= !bit;
                }
                self.depth += 1;
                self.pos = at + 1;
                self.after_key = false;
                Ok(if first == b'd' {
                    Token::Dict
                } else {
                    Token::List
                })
            }
            // `e` closes a container, but not in place of a key's value.
            b'e' if self.depth > 0 && !(in_dict && self.after_key) => {
                self.depth -= 1;
                self.pos = at + 1;
                // The parent, if a dictionary, has its value and wants a key.
                self.after_key = false;
                Ok(Token::End)
            }
            byte => Err(BencodeError::Unexpected { at, byte }),
        }
    }

    /// `i<digits>e` starting at `at`: the integer and the offset after it.
    fn integer(&self, at: usize) -> Result<(Int<'a>, usize), BencodeError> {
        let bad = || BencodeError::BadNumber { at };
        let start = at + 1;
        let rest = self.buf.get(start..).unwrap_or_default();
        let sign = usize::from(rest.first() == Some(&b'-'));
        let digits = rest.get(sign..).unwrap_or_default();
        let n = count_digits(digits);
        if n > MAX_DIGITS {
            return Err(bad());
        }
        match digits.get(n) {
            None => return Err(BencodeError::Truncated { at: self.buf.len() }),
            Some(b'e') if n > 0 => {}
            Some(_) => return Err(bad()),
        }
        // libtorrent's canonical check skips negatives (`i-0e` passes).
        if self.strict && sign == 0 && n > 1 && digits.first() == Some(&b'0') {
            return Err(BencodeError::LeadingZero { at });
        }
        let text = rest
            .get(..sign + n)
            .and_then(|t| std::str::from_utf8(t).ok())
            .ok_or_else(bad)?;
        Ok((Int { text }, start + sign + n + 1))
    }

    /// `<len>:<bytes>` starting at `at`: the bytes and the offset after them.
    fn string(&self, at: usize) -> Result<(&'a [u8], usize), BencodeError> {
        let bad = || BencodeError::BadNumber { at };
        let rest = self.buf.get(at..).unwrap_or_default();
        let n = count_digits(rest);
        if n > MAX_DIGITS {
            return Err(bad());
        }
        match rest.get(n) {
            None => return Err(BencodeError::Truncated { at: self.buf.len() }),
            Some(b':') => {}
            Some(_) => return Err(bad()),
        }
        if self.strict && n > 1 && rest.first() == Some(&b'0') {
            return Err(BencodeError::LeadingZero { at });
        }
        let len = rest
            .get(..n)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<usize>().ok())
            .ok_or_else(bad)?;
        let start = at + n + 1;
        let end = start.checked_add(len).ok_or_else(bad)?;
        let bytes = self
            .buf
            .get(start..end)
            .ok_or(BencodeError::Truncated { at: self.buf.len() })?;
        Ok((bytes, end))
    }
}

/// Leading ASCII digits of `b`, counting at most one past [`MAX_DIGITS`].
fn count_digits(b: &[u8]) -> usize {
    b.iter()
        .take(MAX_DIGITS + 1)
        .take_while(|c| c.is_ascii_digit())
        .count()
}

/// A list being read: [`ListDecoder::next_object`] until `None`.
#[derive(Debug)]
pub struct ListDecoder<'d, 'a> {
    dec: &'d mut Decoder<'a>,
    start: usize,
    /// The decoder's depth inside this list.
    level: usize,
    done: bool,
}

impl<'a> ListDecoder<'_, 'a> {
    /// The next item, or `None` after the last.
    pub fn next_object(&mut self) -> Result<Option<Object<'_, 'a>>, BencodeError> {
        if self.done {
            return Ok(None);
        }
        self.dec.skip_to(self.level)?;
        let at = self.dec.pos;
        match self.dec.token()? {
            Token::End => {
                self.done = true;
                Ok(None)
            }
            token => self.dec.object(token, at).map(Some),
        }
    }

    /// Reads (and validates) the rest of the list and returns its exact
    /// bytes, from `l` to `e`.
    pub fn into_raw(self) -> Result<&'a [u8], BencodeError> {
        finish(self.dec, self.start, self.level, self.done)
    }
}

/// A dictionary being read: [`DictDecoder::next_pair`] until `None`. Keys
/// come in input order, repeats included; what to make of a repeat is the
/// caller's decision.
#[derive(Debug)]
pub struct DictDecoder<'d, 'a> {
    dec: &'d mut Decoder<'a>,
    start: usize,
    /// The decoder's depth inside this dictionary.
    level: usize,
    done: bool,
    /// The last key, in canonical mode.
    prev: Option<&'a [u8]>,
}

impl<'a> DictDecoder<'_, 'a> {
    /// The next key and its value, or `None` after the last.
    pub fn next_pair(&mut self) -> Result<Option<(&'a [u8], Object<'_, 'a>)>, BencodeError> {
        if self.done {
            return Ok(None);
        }
        self.dec.skip_to(self.level)?;
        let at = self.dec.pos;
        let key = match self.dec.token()? {
            Token::End => {
                self.done = true;
                return Ok(None);
            }
            Token::Bytes(key) => key,
            // The token reader refuses anything else where a key must be.
            _ => return Err(self.dec.fail(BencodeError::KeyNotString { at })),
        };
        if self.dec.strict {
            self.check_order(key, at)?;
        }
        let at = self.dec.pos;
        let token = self.dec.token()?;
        let value = self.dec.object(token, at)?;
        Ok(Some((key, value)))
    }

    /// Reads (and validates) the rest of the dictionary and returns its
    /// exact bytes, from `d` to `e`: what an info-hash is computed over.
    pub fn into_raw(self) -> Result<&'a [u8], BencodeError> {
        finish(self.dec, self.start, self.level, self.done)
    }

    fn check_order(&mut self, key: &'a [u8], at: usize) -> Result<(), BencodeError> {
        let err = match self.prev.map(|prev| (key.cmp(prev), prev)) {
            Some((Ordering::Equal, _)) => Some(BencodeError::DuplicateKey {
                at,
                key: shown(key),
            }),
            Some((Ordering::Less, prev)) => Some(BencodeError::UnsortedKey {
                at,
                key: shown(key),
                previous: shown(prev),
            }),
            _ => None,
        };
        if let Some(e) = err {
            return Err(self.dec.fail(e));
        }
        self.prev = Some(key);
        Ok(())
    }
}

fn finish<'a>(
    dec: &mut Decoder<'a>,
    start: usize,
    level: usize,
    done: bool,
) -> Result<&'a [u8], BencodeError> {
    if !done {
        dec.skip_to(level.saturating_sub(1))?;
    }
    Ok(dec.buf.get(start..dec.pos).unwrap_or_default())
}

/// A key for an error message: escaped, and cut at 64 bytes.
fn shown(key: &[u8]) -> String {
    let mut s = key.get(..64).unwrap_or(key).escape_ascii().to_string();
    if key.len() > 64 {
        s.push_str("...");
    }
    s
}
