#!/usr/bin/env bash
# Fails when a file includes a layer above its own or beside it, or when a layer includes a
# network library (libuv, libcurl, OpenSSL) it does not use. Layers, bottom up:
#   base -> protocol, store -> pipeline -> net -> {notify, relay} -> {server, tools} -> cmd
# (relay/ stands on net/ and protocol/; only server/ uses it)
# server/ and tools/ stand side by side: neither includes the other; only cmd/ sees both.
set -euo pipefail
cd "$(dirname "$0")/.."

layers="base protocol store pipeline net notify relay tools server cmd"

allowed() {
  case "$1" in
    base) echo "base" ;;
    protocol) echo "base protocol" ;;
    store) echo "base store" ;;
    pipeline) echo "base protocol pipeline" ;;
    net) echo "base net" ;;
    notify) echo "base protocol store pipeline net notify" ;;
    relay) echo "base protocol store net relay" ;;
    server) echo "base protocol store pipeline net notify relay server" ;;
    tools) echo "base protocol store pipeline net notify tools" ;;
    cmd) echo "base protocol store pipeline net notify relay server tools cmd" ;;
  esac
}

# The network libraries a layer may include, by the first part of the header's path.
network() {
  case "$1" in
    net) echo "uv openssl" ;;
    notify) echo "curl" ;;
    relay) echo "uv openssl" ;;
    server) echo "uv openssl" ;;
    tools) echo "uv openssl" ;;
    *) echo "" ;;
  esac
}

status=0
for layer in $layers; do
  [ -d "$layer" ] || continue
  ok=" $(allowed "$layer") "
  libs=" $(network "$layer") "
  files=$(find "$layer" -name '*.[ch]' | sort)
  [ -n "$files" ] || continue
  while IFS= read -r hit; do
    file=${hit%%:*}
    inc=$(sed -E 's/.*#include[[:space:]]+"([a-z_]+)\/.*/\1/' <<<"$hit")
    if [[ "$ok" != *" $inc "* ]]; then
      echo "layer violation: $file includes $inc/ (a $layer file may include: $(allowed "$layer"))"
      status=1
    fi
  done < <(grep -HnE '#include[[:space:]]+"[a-z_]+/' $files || true)
  while IFS= read -r hit; do
    file=${hit%%:*}
    header=$(sed -E 's/.*#include[[:space:]]+<([^>]+)>.*/\1/' <<<"$hit")
    lib=${header%%[./]*}
    if [[ "$libs" != *" $lib "* ]]; then
      echo "layer violation: $file includes <$header> (network libraries a $layer file may" \
        "include: $(network "$layer" | sed 's/^$/none/'))"
      status=1
    fi
  done < <(grep -HnE '#include[[:space:]]+<(uv\.h|curl/|openssl/)' $files || true)
done
[ $status -eq 0 ] && echo "layers: every #include points down"
exit $status
