# fuzz/common.sh — helpers shared by scripts/test and scripts/fuzz-campaign (sourced, not run).
# Expects the current directory to be the repository root.

# The fuzz targets: every fuzz/fuzz_targets/<target>.rs.
fuzz_targets() {
    local f
    for f in fuzz/fuzz_targets/*.rs; do
        basename "$f" .rs
    done
}

# cargo fuzz needs `-Z` flags: use the nightly toolchain when rustup has one, else let stable
# accept them with RUSTC_BOOTSTRAP=1.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    FUZZ_TOOLCHAIN_DESC="nightly toolchain"
    fuzz_cargo() { cargo +nightly fuzz "$@"; }
else
    FUZZ_TOOLCHAIN_DESC="stable toolchain with RUSTC_BOOTSTRAP=1"
    fuzz_cargo() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
fi

# The shared/ directory beside the repository (a fresh clone in CI has a copy beside it).
fuzz_shared_dir() {
    echo "${PEERCDN_SHARED:-$(dirname "$(pwd)")/shared}"
}

# Fills fuzz/corpus/<target>/ (gitignored) with seeds: libtorrent's test torrents for the
# bencode and metainfo targets, a few magnet links for the magnet target, handshakes and one of
# each message for the peer-wire targets (fuzz_seed_wire). Idempotent; never removes what earlier
# fuzzing added.
fuzz_seed_corpus() {
    local shared torrents rc=0
    shared="$(fuzz_shared_dir)"
    torrents="$shared/corpus/libtorrent-test-torrents"
    mkdir -p fuzz/corpus/bencode_decode fuzz/corpus/metainfo_parse fuzz/corpus/magnet_parse
    if compgen -G "$torrents/*.torrent" >/dev/null; then
        cp -f "$torrents"/*.torrent fuzz/corpus/bencode_decode/
        cp -f "$torrents"/*.torrent fuzz/corpus/metainfo_parse/
        chmod u+w fuzz/corpus/bencode_decode/* fuzz/corpus/metainfo_parse/*
    else
        echo "warning: no seed torrents in $torrents (set PEERCDN_SHARED); fuzzing unseeded" >&2
        rc=1
    fi
    local i=0 magnet
    for magnet in \
        'magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a' \
        'magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Hello+World%21&tr=udp%3A%2F%2Ftracker.example%3A6969%2Fannounce&tr=http%3A%2F%2Ftracker.example%2Fannounce' \
        'magnet:?xt=urn:btih:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C&dn=base32' \
        'magnet:?xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e&dn=v2+only' \
        'magnet:?xt=urn:btih:631a31dd0a46257d5078c0dee4e66e26f73e42ac&xt=urn:btmh:1220d8dd32ac93357c368556af3ac1d95c9d76bd0dff6fa9833ecdac3d53134efabb&dn=hybrid' \
        'magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&ws=http%3A%2F%2Fseed.example%2Ffile&x.pe=127.0.0.1%3A6881&x.pe=%5B%3A%3A1%5D%3A6881' \
        'magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&so=0,2,4-6&xl=1024&kt=a+b' \
        'magnet:?dn=no+hash' \
        'magnet:?xt=urn:btih:zz' \
        'http://example.com/not-a-magnet'; do
        i=$((i + 1))
        printf '%s' "$magnet" >"fuzz/corpus/magnet_parse/seed-$i"
    done
    fuzz_seed_wire
    return "$rc"
}

# fuzz_hex FILE HEX...: writes to FILE the bytes its arguments spell in hex (split anywhere).
fuzz_hex() {
    local file="$1"
    shift
    printf '%b' "$(printf '%s' "$@" | sed 's/../\\x&/g')" >"$file"
}

# Seeds for the peer-wire targets. wire_handshake: a handshake, one cut short, a stranger's
# first bytes. wire_message: every message kind (BEP 3, 5, 6, 10, 52) once, each behind the
# target's header byte 00 (no chunk sizes, default limit); then all of them in one stream, once
# in chunks of 1, 7 and 16 bytes (header 03 00 06 0f) and once under the 64-byte limit
# (header 08), which refuses `hashes`.
fuzz_seed_wire() {
    local dir=fuzz/corpus/wire_message hs=fuzz/corpus/wire_handshake
    local root block seed kind hex all=''
    mkdir -p "$dir" "$hs"
    # \x13 "BitTorrent protocol", reserved (extension protocol, fast, DHT), info-hash, peer id.
    fuzz_hex "$hs/seed-handshake" 13 426974546f7272656e742070726f746f636f6c 0000000000100005 \
        "$(printf 'aa%.0s' {1..20})" 2d5043303030312d6162636465666768696a6b6c
    fuzz_hex "$hs/seed-cut" 13 426974546f7272656e742070726f746f636f6c 00000000
    printf 'GET / HTTP/1.1\r\n\r\n' >"$hs/seed-http"
    root="$(printf '07%.0s' {1..32}) 00000000 00000200 00000200 00000003"
    block='00000001 00004000 00004000'
    local seeds=(
        'keep-alive 00000000'
        'choke 00000001 00'
        'unchoke 00000001 01'
        'interested 00000001 02'
        'not-interested 00000001 03'
        'have 00000005 04 00000001'
        'bitfield 00000003 05 ff80'
        "request 0000000d 06 $block"
        'piece 0000000e 07 00000002 00000000 626c6f636b'
        "cancel 0000000d 08 $block"
        'port 00000003 09 1ae1'
        'suggest 00000005 0d 00000009'
        'have-all 00000001 0e'
        'have-none 00000001 0f'
        'reject 0000000d 10 00000003 00000000 00004000'
        'allowed-fast 00000005 11 00000004'
        'extended-handshake 0000001a 14 00 64313a6d6431313a75745f6d657461646174616931656565'
        "hash-request 00000031 15 $root"
        "hashes 00000071 16 $root $(printf '09%.0s' {1..64})"
        "hash-reject 00000031 17 $root"
        'unknown 00000002 63 3f'
    )
    for seed in "${seeds[@]}"; do
        kind="${seed%% *}"
        hex="${seed#* }"
        hex="${hex// /}"
        fuzz_hex "$dir/seed-$kind" 00 "$hex"
        all+="$hex"
    done
    fuzz_hex "$dir/seed-all-chunked" 03 00060f "$all"
    fuzz_hex "$dir/seed-all-small-limit" 08 "$all"
    # wire_extended: selector byte (0 handshake, 1 ut_metadata, 2 ut_pex, 3 lt_donthave), payload.
    local ext=fuzz/corpus/wire_extended
    mkdir -p "$ext"
    printf '\x00d1:md11:ut_metadatai1e6:ut_pexi2ee1:pi6881e4:reqqi2000e1:v13:peercdn/0.1.0e' >"$ext/seed-handshake"
    printf '\x01d8:msg_typei1e5:piecei0e10:total_sizei5ee12345' >"$ext/seed-metadata-data"
    printf '\x01d8:msg_typei0e5:piecei3ee' >"$ext/seed-metadata-request"
    fuzz_hex "$ext/seed-pex" 02 "$(printf 'd5:added6:'|od -An -tx1|tr -d ' \n')" 7f0000011ae1 \
        "$(printf '7:added.f1:'|od -An -tx1|tr -d ' \n')" 02 65
    fuzz_hex "$ext/seed-donthave" 03 00000005
    # wire_session: reserved-bits byte, then operations; `op % 8 < 3` feeds the next op/8 bytes.
    # This one feeds have_all (BEP 6), unchoke, then requests piece 1 and waits.
    local session=fuzz/corpus/wire_session
    mkdir -p "$session"
    fuzz_hex "$session/seed-have-all-unchoke" 15 28 000000010e 28 0000000101 0b 0e 36
}

# fuzz_run_timed TARGET SECONDS LOG: fuzzes TARGET for SECONDS from fuzz/corpus/TARGET, all
# output to LOG; crashing inputs land in fuzz/artifacts/TARGET/. Fails if the fuzzer found one.
fuzz_run_timed() {
    local target="$1" seconds="$2" log="$3"
    mkdir -p "fuzz/corpus/$target"
    fuzz_cargo run "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 >"$log" 2>&1
}

# fuzz_executions LOG: libFuzzer's final count of executed inputs (0 when absent).
fuzz_executions() {
    local n
    n="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$1" | tail -n 1 | grep -o '[0-9]*$')"
    echo "${n:-0}"
}
