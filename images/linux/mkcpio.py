#!/usr/bin/env python3
"""Write a newc ("070701") cpio archive from a list of entries, reproducibly.

    mkcpio.py LIST MTIME > archive.cpio

LIST has one entry a line, in the spirit of the kernel's usr/gen_init_cpio (blank lines and
lines starting with # are ignored):

    dir   PATH MODE UID GID
    file  PATH HOSTFILE MODE UID GID
    slink PATH TARGET MODE UID GID
    nod   PATH MODE UID GID c|b MAJOR MINOR

MODE is octal. Every entry gets the mtime MTIME (seconds since the epoch) and an inode number
given by its place in the archive; entries are written sorted by path (a directory before
what it holds), so the archive depends only on the list and the files' contents, never on the
order of the list, the host's clock or its inode numbers. Needs no root: device nodes are only
described, never created on the host.
"""

import stat
import sys

MAGIC = b"070701"


def header(ino, mode, uid, gid, nlink, mtime, size, rdevmajor, rdevminor, name):
    fields = (ino, mode, uid, gid, nlink, mtime, size, 0, 0, rdevmajor, rdevminor, len(name) + 1, 0)
    for f in fields:
        if not 0 <= f <= 0xFFFFFFFF:
            raise SystemExit(f"mkcpio: field {f} of {name!r} does not fit in 32 bits")
    return MAGIC + b"".join(b"%08X" % f for f in fields) + name + b"\0"


def pad4(n):
    return b"\0" * (-n % 4)


def parse(list_path):
    entries = {}
    with open(list_path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            where = f"{list_path}:{lineno}"
            kind, args = words[0], words[1:]
            want = {"dir": 4, "file": 5, "slink": 5, "nod": 7}.get(kind)
            if want is None:
                raise SystemExit(f"mkcpio: {where}: unknown entry type {kind!r}")
            if len(args) != want:
                raise SystemExit(f"mkcpio: {where}: {kind} takes {want} fields, got {len(args)}")
            path = args[0]
            if not path.startswith("/") or path == "/" or "//" in path or path.endswith("/"):
                raise SystemExit(f"mkcpio: {where}: bad path {path!r}")
            if path in entries:
                raise SystemExit(f"mkcpio: {where}: {path} listed twice")
            if kind == "dir":
                mode, uid, gid = int(args[1], 8), int(args[2]), int(args[3])
                entries[path] = (stat.S_IFDIR | mode, uid, gid, b"", 0, 0)
            elif kind == "file":
                with open(args[1], "rb") as f:
                    data = f.read()
                mode, uid, gid = int(args[2], 8), int(args[3]), int(args[4])
                entries[path] = (stat.S_IFREG | mode, uid, gid, data, 0, 0)
            elif kind == "slink":
                mode, uid, gid = int(args[2], 8), int(args[3]), int(args[4])
                entries[path] = (stat.S_IFLNK | mode, uid, gid, args[1].encode(), 0, 0)
            else:
                mode, uid, gid = int(args[1], 8), int(args[2]), int(args[3])
                if args[4] not in ("c", "b"):
                    raise SystemExit(f"mkcpio: {where}: device type must be c or b")
                ftype = stat.S_IFCHR if args[4] == "c" else stat.S_IFBLK
                entries[path] = (ftype | mode, uid, gid, b"", int(args[5]), int(args[6]))
    # Every parent directory must be listed, so that nothing depends on the kernel making one.
    for path in entries:
        parent = path.rsplit("/", 1)[0]
        if parent and (parent not in entries or not stat.S_ISDIR(entries[parent][0])):
            raise SystemExit(f"mkcpio: {path}: parent directory {parent} is not listed")
    return entries


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: mkcpio.py LIST MTIME > archive.cpio")
    entries = parse(sys.argv[1])
    mtime = int(sys.argv[2])
    out = bytearray()
    # Sorting by components puts a directory right before its contents.
    for ino, path in enumerate(sorted(entries, key=lambda p: p.split("/")), 1):
        mode, uid, gid, data, major, minor = entries[path]
        name = path[1:].encode()
        nlink = 2 if stat.S_ISDIR(mode) else 1
        h = header(ino, mode, uid, gid, nlink, mtime, len(data), major, minor, name)
        out += h + pad4(len(h)) + data + pad4(len(data))
    h = header(0, 0, 0, 0, 1, 0, 0, 0, 0, b"TRAILER!!!")
    out += h + pad4(len(h))
    # Like gen_init_cpio, pad the archive to a multiple of 512 bytes.
    out += b"\0" * (-len(out) % 512)
    sys.stdout.buffer.write(out)


if __name__ == "__main__":
    main()
