#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ (the
# normal build/ is not touched) and runs mocha against it: lib/crypto/native.ts loads the
# addon from $ZQUIC_ADDON. Node itself is not instrumented, so libasan is preloaded; leak
# detection is off (V8 keeps memory until exit). Any ASan/UBSan report aborts the run.
#   npm run test:asan                         # the whole suite
#   npm run test:asan -- test/crypto-*.test.ts
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-asan
mkdir -p "$out/obj"
CXX=${CXX:-g++}
node_inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
napi_inc=$(node -p "require('node-addon-api').include_dir")
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fPIC -fexceptions
  -fsanitize=address,undefined -fno-sanitize-recover=undefined
  -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_DEPRECATED -DNAPI_CPP_EXCEPTIONS
  -I"$napi_inc" -I"$node_inc")
libs=()
if [ "$(python3 deps/liboqs.py found)" = 1 ]; then # same optional liboqs as binding.gyp
  flags+=(-DZQUIC_HAVE_LIBOQS "-DZQUIC_LIBOQS_LIBRARY=$(python3 deps/liboqs.py library)")
  for d in $(python3 deps/liboqs.py includes); do flags+=(-I"$d"); done
  libs+=(-ldl)
fi
echo "building $out/zquic.node with ASan + UBSan"
objs=()
for src in native/*.cc; do
  obj="$out/obj/$(basename "${src%.cc}").o"
  objs+=("$obj")
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find native -name '*.h' -newer "$obj")" ]; then
    "$CXX" "${flags[@]}" -c "$src" -o "$obj" &
    # at most two compilers at once (shared 2-core machine)
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
  fi
done
wait
"$CXX" -shared -fsanitize=address,undefined -o "$out/zquic.node" "${objs[@]}" "${libs[@]}"

tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(test/**/*.test.ts)
shopt -s globstar
echo "running mocha under ASan + UBSan: ${tests[*]}"
LD_PRELOAD="$("$CXX" -print-file-name=libasan.so)" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_odr_violation=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ZQUIC_ADDON="$PWD/$out/zquic.node" \
  node node_modules/mocha/bin/mocha.js "${tests[@]}"
