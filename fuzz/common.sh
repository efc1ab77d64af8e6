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
# bencode and metainfo targets, a few magnet links for the magnet target. Idempotent; never
# removes what earlier fuzzing added.
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
    return "$rc"
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
