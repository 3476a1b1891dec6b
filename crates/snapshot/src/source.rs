//! Where a snapshot is read from (a file, `-` for standard input, an `http(s)://` URL) and
//! the decoding of its stream: gzip detection by the magic `1f 8b`, then the header
//! (docs/reference/octez-rollup-node.md §7, `Snapshot_utils.is_compressed_snapshot`). A URL is
//! streamed: nothing is written to disk before extraction and memory stays bounded.

use std::io::{self, Read};
use std::path::PathBuf;

use indicatif::ProgressBar;

use crate::error::SnapshotError;
use crate::header::{Format, HEADER_SIZE, Header};

/// A snapshot source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local file.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// An `http://` or `https://` URL.
    Url(String),
}

impl Source {
    /// `-` is standard input, `http(s)://…` a URL, anything else a file.
    #[must_use]
    pub fn parse(arg: &str) -> Self {
        if arg == "-" {
            Self::Stdin
        } else if arg.starts_with("http://") || arg.starts_with("https://") {
            Self::Url(arg.to_string())
        } else {
            Self::File(PathBuf::from(arg))
        }
    }

    /// How errors name it.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Stdin => "-".into(),
            Self::Url(u) => u.clone(),
        }
    }
}

/// An opened source: its bytes and their number when known (file size, Content-Length).
pub struct Opened {
    /// The raw (possibly gzipped) stream.
    pub reader: Box<dyn Read + Send>,
    /// Its length, if known.
    pub len: Option<u64>,
}

/// Opens `src`.
///
/// # Errors
/// [`SnapshotError::Io`] for a file, [`SnapshotError::Http`] for a URL.
pub fn open(src: &Source) -> Result<Opened, SnapshotError> {
    match src {
        Source::File(p) => {
            let f = std::fs::File::open(p).map_err(SnapshotError::io(p))?;
            let len = f.metadata().ok().map(|m| m.len());
            Ok(Opened {
                reader: Box::new(f),
                len,
            })
        }
        Source::Stdin => Ok(Opened {
            reader: Box::new(io::stdin()),
            len: None,
        }),
        Source::Url(url) => {
            let http = |reason: String| SnapshotError::Http {
                url: url.clone(),
                reason,
            };
            http_client::Endpoint::parse("snapshot URL", url).map_err(|e| http(e.to_string()))?;
            let config = http_client::blocking_agent_config().map_err(|e| http(e.to_string()))?;
            let agent: ureq::Agent = config
                .timeout_connect(Some(std::time::Duration::from_secs(30)))
                .build()
                .into();
            let response = agent
                .get(url)
                .call()
                .map_err(|e| http(http_client::error_chain(&e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(http(format!("the server answered {status}; check the URL")));
            }
            let len = response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            Ok(Opened {
                reader: Box::new(response.into_body().into_reader()),
                len,
            })
        }
    }
}

/// Counts the bytes read into a progress bar.
pub(crate) struct Counted<R> {
    pub(crate) inner: R,
    pub(crate) bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Reads up to `n` bytes (fewer only at the end of the stream).
fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A decoded snapshot stream: its format, its header, and the tar archive that follows.
pub struct Decoded {
    /// gzip or not.
    pub format: Format,
    /// The header.
    pub header: Header,
    /// The tar archive (decompressed).
    pub archive: Box<dyn Read + Send>,
}

/// Detects gzip and reads the header of `raw`.
///
/// # Errors
/// [`SnapshotError::Read`] on a read or gzip failure, [`SnapshotError::Header`] on a bad
/// header.
pub fn decode(mut raw: Box<dyn Read + Send>, source_name: &str) -> Result<Decoded, SnapshotError> {
    let read_err = |source: io::Error| SnapshotError::Read {
        source_name: source_name.to_string(),
        source,
    };
    let magic = read_up_to(&mut raw, 2).map_err(read_err)?;
    let format = if magic == [0x1f, 0x8b] {
        Format::Compressed
    } else {
        Format::Uncompressed
    };
    let rest = io::Cursor::new(magic).chain(raw);
    let mut stream: Box<dyn Read + Send> = match format {
        Format::Compressed => Box::new(flate2::read::GzDecoder::new(rest)),
        Format::Uncompressed => Box::new(rest),
    };
    let bytes = read_up_to(&mut stream, HEADER_SIZE).map_err(read_err)?;
    let header = Header::decode(&bytes).map_err(|source| SnapshotError::Header {
        source_name: source_name.to_string(),
        source,
    })?;
    Ok(Decoded {
        format,
        header,
        archive: stream,
    })
}

/// `snapshot info`: the header and format of the snapshot at `src` (only the header is read).
///
/// # Errors
/// See [`open`] and [`decode`].
pub fn info(src: &Source) -> Result<(Header, Format), SnapshotError> {
    let opened = open(src)?;
    let d = decode(opened.reader, &src.name())?;
    Ok((d.header, d.format))
}
