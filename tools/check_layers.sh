#!/usr/bin/env bash
# Fails when a file includes a layer above its own, or when a layer other than net/, server/ and
# tools/ includes the network libraries. Layers, bottom up:
#   base -> protocol, store -> pipeline -> net -> tools -> server
set -euo pipefail
cd "$(dirname "$0")/.."

allowed() {
  case "$1" in
    base) echo "base" ;;
    protocol) echo "base protocol" ;;
    store) echo "base store" ;;
    pipeline) echo "base protocol pipeline" ;;
    net) echo "base net" ;;
    tools) echo "base protocol store pipeline net tools" ;;
    server) echo "base protocol store pipeline net tools server" ;;
  esac
}

status=0
for layer in base protocol store pipeline net tools server; do
  [ -d "$layer" ] || continue
  ok=" $(allowed "$layer") "
  while IFS= read -r hit; do
    file=${hit%%:*}
    inc=$(sed -E 's/.*#include[[:space:]]+"([a-z_]+)\/.*/\1/' <<<"$hit")
    if [[ "$ok" != *" $inc "* ]]; then
      echo "layer violation: $file includes $inc/ (a $layer file may include: $(allowed "$layer"))"
      status=1
    fi
  done < <(grep -HnE '#include[[:space:]]+"[a-z_]+/' "$layer"/*.[ch] "$layer"/**/*.[ch] 2>/dev/null || true)
  if [ "$layer" != net ] && [ "$layer" != server ] && [ "$layer" != tools ]; then
    if grep -HnE '#include[[:space:]]+<(uv\.h|curl/|openssl/)' "$layer"/*.[ch] 2>/dev/null; then
      echo "layer violation: only net/, server/ and tools/ may include libuv, libcurl or OpenSSL"
      status=1
    fi
  fi
done
[ $status -eq 0 ] && echo "layers: every #include points down"
exit $status
