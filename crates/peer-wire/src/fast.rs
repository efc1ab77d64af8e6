//! BEP 6's allowed-fast set: the pieces a peer may request from us while we choke it, derived
//! from its address and the info-hash so that it is the same on every reconnection.

use std::net::IpAddr;

use crate::{InfoHash, PieceIndex};

/// The first `k` pieces of the allowed-fast set for a peer at `ip`, in a torrent of
/// `num_pieces` pieces (fewer when the torrent has fewer than `k` pieces).
///
/// BEP 6's algorithm: the address masked to its /24 (IPv4), followed by the info-hash, is hashed
/// with SHA-1 again and again; each hash gives five 32-bit indices modulo the piece count,
/// skipping repeats. BEP 6 defines IPv4 only; for IPv6 we mask to the /48 a site is usually
/// given and hash its 16 bytes the same way.
pub fn allowed_fast_set(
    ip: IpAddr,
    info_hash: &InfoHash,
    num_pieces: u32,
    k: usize,
) -> Vec<PieceIndex> {
    let k = k.min(num_pieces as usize);
    let mut set = Vec::with_capacity(k);
    if k == 0 {
        return set;
    }
    let mut x = match ip {
        IpAddr::V4(v4) => (u32::from(v4) & 0xffff_ff00).to_be_bytes().to_vec(),
        IpAddr::V6(v6) => {
            let mut bytes = v6.octets();
            bytes[6..].fill(0);
            bytes.to_vec()
        }
    };
    x.extend_from_slice(&info_hash.0);
    while set.len() < k {
        let hash = torrent_format::hash::sha1(&x);
        for word in hash.chunks_exact(4) {
            if set.len() == k {
                break;
            }
            let y = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            let index = PieceIndex(y % num_pieces);
            if !set.contains(&index) {
                set.push(index);
            }
        }
        x = hash.to_vec();
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BEP 6: "with 1313 pieces, an info-hash of 0xAA repeated 20 times, and a peer at
    /// 80.4.4.200, the allowed fast set for k = 7 is 1059, 431, 808, 1217, 287, 376, 1188 and
    /// for k = 9 it adds 353, 508."
    #[test]
    fn matches_the_example_of_bep_6() {
        let ip = IpAddr::from([80, 4, 4, 200]);
        let info_hash = InfoHash([0xaa; 20]);
        let pieces = |k| -> Vec<u32> {
            allowed_fast_set(ip, &info_hash, 1313, k)
                .into_iter()
                .map(|p| p.0)
                .collect()
        };
        assert_eq!(pieces(7), [1059, 431, 808, 1217, 287, 376, 1188]);
        assert_eq!(pieces(9), [1059, 431, 808, 1217, 287, 376, 1188, 353, 508]);
        // Same /24, same set.
        assert_eq!(
            allowed_fast_set(IpAddr::from([80, 4, 4, 1]), &info_hash, 1313, 9),
            allowed_fast_set(ip, &info_hash, 1313, 9)
        );
    }

    #[test]
    fn small_torrents_get_every_piece_once() {
        let set = allowed_fast_set(IpAddr::from([10, 0, 0, 1]), &InfoHash([1; 20]), 3, 10);
        let mut pieces: Vec<u32> = set.iter().map(|p| p.0).collect();
        pieces.sort_unstable();
        assert_eq!(pieces, [0, 1, 2]);
        assert!(
            allowed_fast_set(IpAddr::from([10, 0, 0, 1]), &InfoHash([1; 20]), 0, 10).is_empty()
        );
    }
}
