#!/usr/bin/env bash
# Fetch the Twemoji 64x64 PNGs (3,786 files, CC-BY 4.0, Copyright Twitter, Inc and other
# contributors) into data/twemoji64/: the folder img/twitter/64 of the npm package
# emoji-datasource-twitter@16.0.0, downloaded from the npm registry and checked against the
# SHA-512 the registry publishes for it. Needs curl (or wget), sha512sum and tar.
#   tools/fetch_twemoji.sh            # then: train --data data/twemoji64 ...
set -euo pipefail
cd "$(dirname "$0")/.."

url=https://registry.npmjs.org/emoji-datasource-twitter/-/emoji-datasource-twitter-16.0.0.tgz
# `npm view emoji-datasource-twitter@16.0.0 dist.integrity`, as hex.
sha512=ec5fae0ae1c7fbb427adcd793f9b676ef2a483d13ab65ce2e0c9d3dae5b5465378a4b613cdae9c3ff76cb487d20ccb698c52d6b997b05a0f2305bb8bd9ec842d
dest=data/twemoji64

if [ -d "$dest" ] && [ "$(find "$dest" -name '*.png' | wc -l)" -eq 3786 ]; then
    echo "$dest already holds the 3786 emoji"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "downloading $url (62 MB)" >&2
if command -v curl >/dev/null; then
    curl -sSfL --retry 3 -o "$tmp/package.tgz" "$url"
elif command -v wget >/dev/null; then
    wget -q -O "$tmp/package.tgz" "$url"
else
    echo "neither curl nor wget is installed: apt-get install curl" >&2
    exit 1
fi
echo "$sha512  $tmp/package.tgz" | sha512sum --check --quiet - || {
    echo "the download's SHA-512 is not the one the npm registry publishes for emoji-datasource-twitter@16.0.0; nothing was unpacked" >&2
    exit 1
}
tar -xzf "$tmp/package.tgz" -C "$tmp" package/img/twitter/64
# Into place in one rename: an interrupted run never leaves half a folder.
rm -rf "$dest.partial"
mv "$tmp/package/img/twitter/64" "$dest.partial"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "wrote $(find "$dest" -name '*.png' | wc -l) emoji to $dest (Twemoji, CC-BY 4.0, Copyright Twitter, Inc and other contributors)"
