//! Incremental splitter for streamed JSON values (l1-and-signer.md §1.1: chunked body of
//! successive JSON values each terminated by `\n`; a value may span several HTTP chunks and a
//! chunk may hold several values).

use serde_json::Value;

/// Accumulates bytes and yields complete JSON values.
#[derive(Debug, Default)]
pub struct NdJsonSplitter {
    buf: Vec<u8>,
}

impl NdJsonSplitter {
    /// An empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` and returns every value now complete, in order. A malformed value is an
    /// error (the stream is then unusable); an incomplete one stays buffered.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Value>, serde_json::Error> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut consumed = 0;
        let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
        loop {
            match it.next() {
                None => {
                    consumed = self.buf.len();
                    break;
                }
                Some(Ok(v)) => {
                    consumed = it.byte_offset();
                    out.push(v);
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => return Err(e),
            }
        }
        self.buf.drain(..consumed);
        Ok(out)
    }

    /// Bytes buffered for an incomplete value.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_anywhere() {
        let text = b"{\"a\":1}\n{\"b\":[1,2]}\n\"s\"\n";
        for cut1 in 0..text.len() {
            for cut2 in cut1..text.len() {
                let mut s = NdJsonSplitter::new();
                let mut got = s.push(&text[..cut1]).unwrap();
                got.extend(s.push(&text[cut1..cut2]).unwrap());
                got.extend(s.push(&text[cut2..]).unwrap());
                assert_eq!(got, vec![json!({"a":1}), json!({"b":[1,2]}), json!("s")]);
                assert_eq!(s.pending(), 0);
            }
        }
    }

    #[test]
    fn incomplete_object_waits() {
        let mut s = NdJsonSplitter::new();
        assert_eq!(s.push(b"{\"x\":").unwrap(), Vec::<Value>::new());
        assert!(s.pending() > 0);
        assert_eq!(s.push(b"2}\n").unwrap(), vec![json!({"x":2})]);
    }

    #[test]
    fn garbage_is_an_error() {
        let mut s = NdJsonSplitter::new();
        assert!(s.push(b"{\"x\":1}\n}{").is_err());
    }
}
