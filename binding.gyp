{
  # The addon links nothing: AEAD, HKDF, X25519 and ECDH resolve at load time against the
  # OpenSSL inside the running Node process (node-gyp compiles against Node's own headers).
  # deps/liboqs.py adds liboqs when pkg-config finds it.
  "targets": [
    {
      "target_name": "zquic",
      "sources": ["<!@(python3 -c \"import glob; print(' '.join(sorted(glob.glob('native/*.cc'))))\")"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-Wall", "-Wextra"],
      "conditions": [
        ["<!(python3 deps/liboqs.py found)==1", {
          "defines": ["ZQUIC_HAVE_LIBOQS", "ZQUIC_LIBOQS_LIBRARY=<!(python3 deps/liboqs.py library)"],
          "include_dirs": ["<!@(python3 deps/liboqs.py includes)"],
          "libraries": ["-ldl"]
        }]
      ]
    }
  ]
}
