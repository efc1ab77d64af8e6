//! Assembling the `.torrent` dictionary from the walk, the layout and the piece hashes.

use std::collections::BTreeMap;

use super::hasher::PieceHashes;
use super::layout::Layout;
use super::walk::InputFile;
use super::{CreateOptions, Version};
use crate::bencode::OwnedValue;
use crate::merkle;

/// Everything the dictionaries are built from.
pub(super) struct Parts<'a> {
    pub(super) options: &'a CreateOptions,
    pub(super) name: &'a str,
    pub(super) single_file: bool,
    pub(super) files: &'a [InputFile],
    /// The layout the pieces were cut from (aligned for v2 and hybrid).
    pub(super) layout: &'a Layout,
    pub(super) hashes: &'a PieceHashes,
}

impl Parts<'_> {
    /// The `info` dictionary and, for v2 and hybrid, the `piece layers` dictionary.
    pub(super) fn info(&self) -> (OwnedValue, Option<OwnedValue>) {
        let o = self.options;
        let pl = self.layout.piece_length;
        let mut info = OwnedValue::dict()
            .with("name", self.name.into())
            .with("piece length", int(pl));
        if o.private {
            // BEP 27.
            info = info.with("private", OwnedValue::Int(1));
        }
        let v1 = matches!(o.version, Version::V1 | Version::Hybrid);
        let v2 = matches!(o.version, Version::V2 | Version::Hybrid);
        if v1 {
            info = info.with("pieces", OwnedValue::Bytes(self.hashes.v1.concat()));
            if self.single_file {
                info = info.with("length", int(self.files[0].length));
            } else {
                info = info.with("files", self.v1_files(o.version == Version::Hybrid));
            }
        }
        let mut layers = None;
        if v2 {
            let (tree, piece_layers) = self.v2_tree();
            info = info
                .with("meta version", OwnedValue::Int(2))
                .with("file tree", tree);
            layers = Some(piece_layers);
        }
        (info, layers)
    }

    /// BEP 3 `files`, with BEP 47 pad files after each unaligned file in a hybrid.
    fn v1_files(&self, hybrid: bool) -> OwnedValue {
        let mut list = Vec::with_capacity(self.files.len());
        for (i, f) in self.files.iter().enumerate() {
            let path = f.components.iter().map(|c| c.as_str().into()).collect();
            list.push(
                OwnedValue::dict()
                    .with("length", int(f.length))
                    .with("path", OwnedValue::List(path)),
            );
            if let Some(pad) = hybrid.then(|| self.layout.pad_after(i)).flatten() {
                // BEP 47: "attr" containing "p" marks a padding file. The ".pad/<length>"
                // path is libtorrent's convention.
                let n = pad.to_string();
                list.push(
                    OwnedValue::dict()
                        .with("attr", "p".into())
                        .with("length", int(pad))
                        .with("path", OwnedValue::List(vec![".pad".into(), n.into()])),
                );
            }
        }
        OwnedValue::List(list)
    }

    /// BEP 52 `file tree` and `piece layers`.
    fn v2_tree(&self) -> (OwnedValue, OwnedValue) {
        let pl = self.layout.piece_length;
        let mut tree = BTreeMap::new();
        let mut layers = BTreeMap::new();
        for (i, f) in self.files.iter().enumerate() {
            let mut leaf = OwnedValue::dict().with("length", int(f.length));
            // BEP 52: "pieces root: For non-empty files this is the the root hash [...]".
            if let Some(seg) = self.layout.file_segment(i) {
                let first = usize::try_from(seg.start / pl).expect("piece count checked");
                let count = usize::try_from(f.length.div_ceil(pl)).expect("piece count checked");
                let pieces = &self.hashes.v2[first..first + count];
                let root = if count == 1 {
                    // Files no longer than a piece: the hasher already produced the root.
                    pieces[0]
                } else {
                    // BEP 52 "piece layers": "For each file in the file tree that is larger
                    // than the piece size it contains one string value."
                    let root = merkle::root_from_piece_layer(pieces, pl);
                    layers.insert(root.to_vec(), OwnedValue::Bytes(pieces.concat()));
                    root
                };
                leaf = leaf.with("pieces root", OwnedValue::Bytes(root.to_vec()));
            }
            // A single-file torrent's tree is `{name: {"": {...}}}`.
            let name = [self.name.to_owned()];
            let path: &[String] = if self.single_file {
                &name
            } else {
                &f.components
            };
            insert(&mut tree, path, leaf);
        }
        (OwnedValue::Dict(tree), OwnedValue::Dict(layers))
    }
}

/// The whole metainfo file around an encoded `info`.
pub(super) fn torrent(
    options: &CreateOptions,
    info: OwnedValue,
    piece_layers: Option<OwnedValue>,
) -> OwnedValue {
    let mut t = OwnedValue::dict().with("info", info);
    let tiers: Vec<&Vec<String>> = options.trackers.iter().filter(|t| !t.is_empty()).collect();
    if let Some(first) = tiers.first().and_then(|t| t.first()) {
        t = t.with("announce", first.as_str().into());
    }
    // BEP 12: only worth writing when there is more than one tracker.
    if tiers.iter().map(|t| t.len()).sum::<usize>() > 1 {
        let list = tiers
            .iter()
            .map(|tier| OwnedValue::List(tier.iter().map(|u| u.as_str().into()).collect()))
            .collect();
        t = t.with("announce-list", OwnedValue::List(list));
    }
    if !options.web_seeds.is_empty() {
        // BEP 19: a list of URLs (a single string is also allowed; a list always is).
        let list = options
            .web_seeds
            .iter()
            .map(|u| u.as_str().into())
            .collect();
        t = t.with("url-list", OwnedValue::List(list));
    }
    if let Some(c) = &options.comment {
        t = t.with("comment", c.as_str().into());
    }
    if let Some(c) = &options.created_by {
        t = t.with("created by", c.as_str().into());
    }
    if let Some(d) = options.creation_date {
        t = t.with("creation date", OwnedValue::Int(d));
    }
    if let Some(layers) = piece_layers {
        // BEP 52: "A torrent is not valid if this field is absent", so it is written even
        // when empty (every file no longer than one piece).
        t = t.with("piece layers", layers);
    }
    t
}

fn insert(tree: &mut BTreeMap<Vec<u8>, OwnedValue>, path: &[String], leaf: OwnedValue) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let key = first.as_bytes().to_vec();
    if rest.is_empty() {
        tree.insert(key, OwnedValue::dict().with("", leaf));
    } else if let OwnedValue::Dict(sub) = tree.entry(key).or_insert_with(OwnedValue::dict) {
        insert(sub, rest, leaf);
    }
}

/// Lengths are at most `i64::MAX` (file sizes and piece lengths the OS reported / we checked).
fn int(n: u64) -> OwnedValue {
    OwnedValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
}
