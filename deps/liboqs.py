#!/usr/bin/env python3
"""Build-time detection of liboqs for binding.gyp (the optional `liboqs` ML-KEM backend).

    python3 deps/liboqs.py found     -> "1" when liboqs is usable, else "0"
    python3 deps/liboqs.py includes  -> include directories (space separated), or nothing
    python3 deps/liboqs.py library   -> absolute path of the shared library the addon dlopen()s

Where it looks, in order: $LIBOQS_DIR (an install prefix: its lib*/pkgconfig is searched, or
else its include/ and lib/ are used directly), then `pkg-config liboqs` with the caller's
PKG_CONFIG_PATH. ZQUIC_NO_LIBOQS=1 disables the backend. Nothing is printed to stdout except
the answer, so a missing pkg-config or liboqs simply means "0" and the default build.

The addon loads the library with dlopen() at run time instead of linking it, so an addon
built with liboqs still loads (backend reported unavailable) when the library is later gone.
"""
import os
import re
import shutil
import subprocess
import sys

LIB_NAMES = {'darwin': ['liboqs.dylib']}.get(sys.platform, ['liboqs.so'])
# The path becomes a preprocessor token that the C++ code stringifies: keep it plain.
SAFE_PATH = re.compile(r'^/[A-Za-z0-9_./+-]*$')


def pkg_config(args, extra_path=None):
    exe = shutil.which('pkg-config')
    if not exe:
        return None
    env = dict(os.environ)
    if extra_path:
        env['PKG_CONFIG_PATH'] = os.pathsep.join(
            p for p in [extra_path, env.get('PKG_CONFIG_PATH', '')] if p)
    try:
        out = subprocess.run([exe] + args + ['liboqs'], env=env, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def locate():
    """(include_dirs, library_path) or None."""
    if os.environ.get('ZQUIC_NO_LIBOQS', '') not in ('', '0'):
        return None
    if sys.platform == 'win32':  # the backend loads liboqs with dlopen(): POSIX only
        return None
    prefix = os.environ.get('LIBOQS_DIR', '')
    pc_dirs = []
    if prefix:
        pc_dirs = [os.path.join(prefix, d, 'pkgconfig') for d in ('lib', 'lib64', 'share')]
        pc_dirs = [d for d in pc_dirs if os.path.isdir(d)]
    extra = os.pathsep.join(pc_dirs) or None
    if pkg_config(['--exists'], extra) is not None:
        incs = (pkg_config(['--cflags-only-I'], extra) or '').split()
        includes = [i[2:] for i in incs if i.startswith('-I')]
        libdirs = [pkg_config(['--variable=libdir'], extra) or '']
    elif prefix:
        includes = [os.path.join(prefix, 'include')]
        libdirs = [os.path.join(prefix, d) for d in ('lib', 'lib64')]
    else:
        return None
    header_ok = any(os.path.isfile(os.path.join(i, 'oqs', 'oqs.h')) for i in includes) or (
        not includes and os.path.isfile('/usr/include/oqs/oqs.h'))
    if not header_ok:
        return None
    for d in libdirs:
        for name in LIB_NAMES:
            lib = os.path.normpath(os.path.join(d, name))
            if os.path.isfile(lib) and SAFE_PATH.match(lib):
                return includes, lib
    return None


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else 'found'
    try:
        found = locate()
    except Exception:  # detection must never break the default build
        found = None
    if what == 'found':
        print('1' if found else '0')
    elif what == 'includes':
        print(' '.join(found[0]) if found else '')
    elif what == 'library':
        print(found[1] if found else '')
    else:
        sys.exit('usage: liboqs.py found|includes|library')


if __name__ == '__main__':
    main()
