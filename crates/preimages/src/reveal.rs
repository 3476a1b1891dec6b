//! The answers to reveal requests (`wasm-pvm.md` §5.2, §4.3; the requests are
//! [`tezos_types::reveal::RevealRequest`]): a malformed request is answered like L1 does with
//! the pre-image of the well-known hash, i.e. the empty string.

use crate::dal::DalSource;
use crate::hash::RevealHash;
use crate::store::{PreimageError, PreimageStore};
pub use tezos_types::reveal::{RevealRequest, RollupMetadata};

/// Answers reveal requests from a [`PreimageStore`], the rollup metadata and, for the DAL
/// reveals, a [`DalSource`].
pub struct Revealer {
    store: PreimageStore,
    metadata: RollupMetadata,
    dal: Option<Box<dyn DalSource>>,
    /// The inbox level being evaluated (DAL page validity, DAL parameters).
    inbox_level: i32,
}

impl std::fmt::Debug for Revealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revealer")
            .field("store", &self.store)
            .field("metadata", &self.metadata)
            .field("dal", &self.dal.is_some())
            .field("inbox_level", &self.inbox_level)
            .finish()
    }
}

impl Revealer {
    /// A revealer over `store` answering metadata requests with `metadata`, without DAL
    /// access (a DAL reveal is then an error).
    #[must_use]
    pub fn new(store: PreimageStore, metadata: RollupMetadata) -> Self {
        Self {
            store,
            metadata,
            dal: None,
            inbox_level: 0,
        }
    }

    /// Answers the DAL reveals from `dal`.
    #[must_use]
    pub fn with_dal(mut self, dal: Box<dyn DalSource>) -> Self {
        self.dal = Some(dal);
        self
    }

    /// A revealer of its own answering as this one does, for another thread (the DAL access
    /// is [`DalSource::fork`]'s).
    #[must_use]
    pub fn fork(&self) -> Self {
        Self {
            store: self.store.clone(),
            metadata: self.metadata,
            dal: self.dal.as_ref().and_then(|d| d.fork()),
            inbox_level: self.inbox_level,
        }
    }

    /// Sets the inbox level being evaluated (before each level).
    pub fn set_inbox_level(&mut self, level: i32) {
        self.inbox_level = level;
    }

    /// The underlying store.
    #[must_use]
    pub fn store(&self) -> &PreimageStore {
        &self.store
    }

    /// The metadata answered to `reveal_metadata`.
    #[must_use]
    pub fn metadata(&self) -> &RollupMetadata {
        &self.metadata
    }

    /// The answer to a raw reveal request payload.
    ///
    /// Raw data: the verified pre-image (a missing or wrong pre-image is an error:
    /// the node cannot go on). Metadata: 24 bytes. DAL page and DAL parameters: as
    /// [`crate::dal`] decides, an error without DAL access. Malformed: empty (well-known
    /// hash).
    pub fn answer(&mut self, payload: &[u8]) -> Result<Vec<u8>, PreimageError> {
        self.answer_request(&RevealRequest::decode(payload))
    }

    /// Same as [`Self::answer`] on a decoded request.
    pub fn answer_request(&mut self, request: &RevealRequest) -> Result<Vec<u8>, PreimageError> {
        match request {
            RevealRequest::RawData(hash) => {
                if *hash == RevealHash::well_known() {
                    return Ok(Vec::new());
                }
                self.store.get(hash)
            }
            RevealRequest::Metadata => Ok(self.metadata.encode().to_vec()),
            RevealRequest::DalPage {
                published_level,
                slot_index,
                page_index,
            } => {
                let id = crate::dal::PageId {
                    published_level: *published_level,
                    slot_index: *slot_index,
                    page_index: *page_index,
                };
                let (origination, inbox_level) =
                    (self.metadata.origination_level, self.inbox_level);
                let dal = self.dal_source()?;
                crate::dal::page(dal.as_mut(), origination, inbox_level, &id)
                    .map_err(PreimageError::Dal)
            }
            RevealRequest::DalParameters => {
                let inbox_level = self.inbox_level;
                let dal = self.dal_source()?;
                Ok(dal
                    .constants(inbox_level)
                    .map_err(PreimageError::Dal)?
                    .parameters_bytes())
            }
            RevealRequest::Malformed => Ok(Vec::new()),
        }
    }
}

impl Revealer {
    /// The DAL constants in force at `level` (the DAL source's, cached there).
    ///
    /// # Errors
    /// No DAL access, or the source's error.
    pub fn dal_constants(&mut self, level: i32) -> Result<crate::dal::DalConstants, PreimageError> {
        self.dal_source()?
            .constants(level)
            .map_err(PreimageError::Dal)
    }

    /// The KZG proof of a page from the DAL node ([`DalSource::page_proof`]).
    ///
    /// # Errors
    /// No DAL access, or the source's error.
    pub fn dal_page_proof(
        &mut self,
        published_level: i32,
        index: u8,
        page_index: i16,
    ) -> Result<[u8; 48], PreimageError> {
        self.dal_source()?
            .page_proof(published_level, index, page_index)
            .map_err(PreimageError::Dal)
    }

    /// A DAL skip-list cell from the DAL node ([`DalSource::skip_list_cell`]).
    ///
    /// # Errors
    /// No DAL access, or the source's error.
    pub fn dal_skip_list_cell(
        &mut self,
        protocol: &tezos_types::ProtocolHash,
        hash: &tezos_types::DalSkipListHash,
    ) -> Result<Option<serde_json::Value>, PreimageError> {
        self.dal_source()?
            .skip_list_cell(protocol, hash)
            .map_err(PreimageError::Dal)
    }

    fn dal_source(&mut self) -> Result<&mut Box<dyn DalSource>, PreimageError> {
        self.dal.as_mut().ok_or_else(|| {
            PreimageError::Dal(
                "the kernel asked for a DAL reveal, which needs the L1 node and a DAL node: \
                 not available here (run the rollup node with --dal-node)"
                    .to_owned(),
            )
        })
    }
}

/// The PVM's reveal hook: errors (missing or wrong pre-image) become a
/// [`wasm_pvm::RevealError`] carrying the message that names the hash and the source.
#[cfg(feature = "wasm-pvm")]
impl wasm_pvm::RevealHandler for Revealer {
    fn reveal(&mut self, request: &[u8]) -> Result<Vec<u8>, wasm_pvm::RevealError> {
        self.answer(request)
            .map_err(|e| wasm_pvm::RevealError(e.to_string()))
    }

    fn set_inbox_level(&mut self, level: u32) {
        Revealer::set_inbox_level(self, i32::try_from(level).unwrap_or(i32::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let dir = tempfile::tempdir().unwrap();
        let store = PreimageStore::new(dir.path());
        let h = store.put(b"payload").unwrap();
        let metadata = RollupMetadata {
            address: [0xab; 20],
            origination_level: 0x0102_0304,
        };
        let mut r = Revealer::new(store, metadata);
        assert_eq!(
            r.answer(&RevealRequest::RawData(h).encode()).unwrap(),
            b"payload"
        );
        let m = r.answer(&[1]).unwrap();
        assert_eq!(m.len(), 24);
        assert_eq!(&m[..20], &[0xab; 20]);
        assert_eq!(&m[20..], &[1, 2, 3, 4]);
        assert!(r.answer(&[9, 9]).unwrap().is_empty());
        // DAL reveals without DAL access: an error that says what is missing, never empty.
        for dal in [&[2, 0, 0, 0, 1, 0, 0, 0][..], &[3]] {
            let e = r.answer(dal).unwrap_err();
            assert!(matches!(e, PreimageError::Dal(_)), "{e}");
            assert!(e.to_string().contains("--dal-node"), "{e}");
        }
        // Well-known hash needs no file.
        let wk = RevealRequest::RawData(RevealHash::well_known()).encode();
        assert!(r.answer(&wk).unwrap().is_empty());
        // A missing pre-image is an error, not an empty answer.
        let missing = RevealRequest::RawData(RevealHash::of_preimage(b"nope")).encode();
        assert!(matches!(
            r.answer(&missing),
            Err(PreimageError::NotFound { .. })
        ));
    }

    /// A source whose copies answer DAL parameters (and the original too).
    struct Forkable(bool);

    impl DalSource for Forkable {
        fn constants(&mut self, _: i32) -> Result<crate::dal::DalConstants, String> {
            Err("constants asked".into())
        }
        fn cells(&mut self, _: i32) -> Result<Option<Vec<inbox::dal::SkipListCell>>, String> {
            Ok(None)
        }
        fn pages(&mut self, _: i32, _: u8) -> Result<Vec<Vec<u8>>, String> {
            Ok(Vec::new())
        }
        fn fork(&self) -> Option<Box<dyn DalSource>> {
            self.0
                .then(|| Box::new(Forkable(true)) as Box<dyn DalSource>)
        }
    }

    /// A fork answers as the original: same pre-images, metadata and DAL access (none when
    /// the DAL source cannot be copied).
    #[test]
    fn a_fork_answers_as_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let store = PreimageStore::new(dir.path());
        let h = store.put(b"payload").unwrap();
        let metadata = RollupMetadata {
            address: [0xab; 20],
            origination_level: 7,
        };
        let raw = RevealRequest::RawData(h).encode();
        for copyable in [true, false] {
            let r = Revealer::new(store.clone(), metadata).with_dal(Box::new(Forkable(copyable)));
            let mut f = r.fork();
            assert_eq!(f.answer(&raw).unwrap(), b"payload");
            assert_eq!(f.answer(&[1]).unwrap(), metadata.encode());
            let e = f.answer(&[3]).unwrap_err().to_string();
            assert_eq!(e.contains("constants asked"), copyable, "{e}");
            assert_eq!(e.contains("--dal-node"), !copyable, "{e}");
        }
    }
}
