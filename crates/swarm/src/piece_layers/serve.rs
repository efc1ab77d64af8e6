//! Answering BEP 52 hash requests from the piece layers of a torrent we have.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use peer_wire::HashRequest;
use torrent_format::Metainfo;
use torrent_format::merkle::PieceTree;

use super::proof::{self, Unanswerable};

/// The piece layers of a torrent's files, by `pieces root`: what the engine answers BEP 52
/// hash requests from ([`crate::Config::piece_layers`]), so that a peer that came by a v2
/// magnet link can check the pieces of files longer than one piece.
///
/// Each file's tree above its piece layer is built on the first request for it (about as many
/// SHA-256 computations as the file has pieces), then kept.
#[derive(Debug)]
pub struct PieceLayers {
    piece_length: u64,
    files: HashMap<[u8; 32], File>,
}

#[derive(Debug)]
struct File {
    layer: Vec<[u8; 32]>,
    /// `None` once built if the layer does not hash to its root.
    tree: OnceLock<Option<PieceTree>>,
}

impl PieceLayers {
    /// The piece layers of these files, as (`pieces root`, layer). A layer that does not hash
    /// to its root is never served (its requests are rejected).
    pub fn new(
        piece_length: u64,
        layers: impl IntoIterator<Item = ([u8; 32], Vec<[u8; 32]>)>,
    ) -> Self {
        let files = layers
            .into_iter()
            .filter(|(_, layer)| !layer.is_empty())
            .map(|(root, layer)| {
                let file = File {
                    layer,
                    tree: OnceLock::new(),
                };
                (root, file)
            })
            .collect();
        Self {
            piece_length,
            files,
        }
    }

    /// The piece layers of a v2 or hybrid torrent; `None` when it has none (a v1 torrent, one
    /// whose files are all at most one piece, or one without its `piece layers`).
    pub fn from_metainfo(meta: &Metainfo) -> Option<Self> {
        let layers: Vec<([u8; 32], Vec<[u8; 32]>)> = (0..meta.num_files())
            .filter_map(|i| {
                let root = meta.file(i)?.pieces_root?;
                Some((root, meta.piece_layer(i)?.to_vec()))
            })
            .collect();
        (!layers.is_empty()).then(|| Self::new(meta.piece_length(), layers))
    }

    /// Number of files (distinct roots) with a piece layer.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there is no piece layer at all.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The payload of the `hashes` message answering `request`, or why it gets a `hash
    /// reject`. See the [module docs](super) for what a request names.
    pub fn answer(&self, request: &HashRequest) -> Result<Bytes, Unanswerable> {
        let file = self
            .files
            .get(&request.pieces_root)
            .ok_or(Unanswerable::UnknownRoot)?;
        let tree = file
            .tree
            .get_or_init(|| {
                PieceTree::from_piece_layer(&file.layer, self.piece_length)
                    .filter(|t| t.root() == request.pieces_root)
            })
            .as_ref()
            .ok_or(Unanswerable::UnknownRoot)?;
        proof::answer(tree, request).map(Bytes::from)
    }
}
