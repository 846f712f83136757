# SPDX-License-Identifier: GPL-3.0-or-later
"""powercut_support.py: what a disk holds after a power cut, rebuilt from the
log pcshim.c writes (tests/fault/pcshim.h has its record layout).

The model (a journalling file system such as ext4 on an SD card):
  - a file's data and size are durable once an fsync/fdatasync of it returned
    after they were written (msync(MS_SYNC) for a shared mapping);
  - names (a create, a rename, an unlink) are durable once the directory was
    fsync'd after them; of those made since, a random prefix survives (the
    journal keeps metadata in order);
  - of each file's writes since its last sync, every 512-byte sector holds any
    one of its versions (the synced one or one after any later write): writes
    are torn at sectors and reach the disk in any order; the size is any of the
    sizes the file had since its last sync;
  - what a shared writable mapping held is known only at the cut (the files
    as the killed process left them): each sector is either that or the synced one.
It must not decide what the daemon should do with what it finds (powercut.py checks).
"""

import os
import random
import struct

SECTOR = 512
PC_OPEN, PC_WRITE, PC_SYNC, PC_TRUNC, PC_RENAME, PC_UNLINK, PC_MMAP = range(1, 8)
REC = struct.Struct("<IIQQQQ")


def read_log(path):
    """The records of a shim log: [(op, name, ino, a, b, data)]; a record cut
    short by the kill ends the list."""
    out = []
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except FileNotFoundError:
        return out
    off = 0
    while off + REC.size <= len(buf):
        op, nlen, ino, a, b, dlen = REC.unpack_from(buf, off)
        end = off + REC.size + nlen + dlen
        if end > len(buf) or not 1 <= op <= 7:
            break
        name = buf[off + REC.size:off + REC.size + nlen].decode("utf-8", "replace")
        data = buf[off + REC.size + nlen:end]
        out.append((op, name, ino, a, b, data))
        off = end
    return out


class Inode:
    def __init__(self, content=b""):
        self.durable = bytes(content)
        self.ops = []  # since the last sync: ("w", off, data) | ("t", size) | ("snap", data)
        self.mapped = False

    def current(self):
        work = bytearray(self.durable)
        for op in self.ops:
            _apply(work, op)
        return bytes(work)


def _apply(work, op):
    if op[0] == "w":
        off, data = op[1], op[2]
        if len(work) < off + len(data):
            work.extend(b"\0" * (off + len(data) - len(work)))
        work[off:off + len(data)] = data
    elif op[0] == "t":
        if op[1] < len(work):
            del work[op[1]:]
        else:
            work.extend(b"\0" * (op[1] - len(work)))
    else:  # a snapshot of the whole file
        work[:] = op[1]


def _touched(work_before, op):
    """Sectors an op may change."""
    if op[0] == "w":
        return range(op[1] // SECTOR, (op[1] + len(op[2]) + SECTOR - 1) // SECTOR)
    if op[0] == "t":
        lo, hi = sorted((len(work_before), op[1]))
        return range(lo // SECTOR, (hi + SECTOR - 1) // SECTOR)
    n = max(len(work_before), len(op[1]))
    return [s for s in range((n + SECTOR - 1) // SECTOR)
            if work_before[s * SECTOR:(s + 1) * SECTOR] != op[1][s * SECTOR:(s + 1) * SECTOR]]


def on_disk(ino, rng, mode):
    """The bytes a disk holds for an inode: mode 'min' (only what was synced),
    'max' (everything written), or 'random' (the model above)."""
    if mode == "min" or not ino.ops:
        return ino.durable
    if mode == "max":
        return ino.current()
    work = bytearray(ino.durable)
    sizes = [len(work)]
    versions = {}  # sector -> [contents]
    for op in ino.ops:
        before = bytes(work)
        secs = list(_touched(before, op))
        for s in secs:
            versions.setdefault(s, [before[s * SECTOR:(s + 1) * SECTOR]])
        _apply(work, op)
        for s in secs:
            versions[s].append(bytes(work[s * SECTOR:(s + 1) * SECTOR]))
        sizes.append(len(work))
    size = rng.choice(sizes)
    out = bytearray(ino.durable[:size])
    out.extend(b"\0" * (size - len(out)))
    for s, vs in versions.items():
        if s * SECTOR >= size:
            continue
        v = rng.choice(vs)
        end = min(size, (s + 1) * SECTOR)
        out[s * SECTOR:end] = v[:end - s * SECTOR].ljust(end - s * SECTOR, b"\0")
    return bytes(out)


class Disk:
    """The files of one directory as the page cache and the disk see them."""

    def __init__(self, base):
        """base: {name: (ino, bytes)}, the directory before the run (all durable)."""
        self.inodes = {}
        self.cur = {}
        for name, (ino, content) in base.items():
            self.inodes[ino] = Inode(content)
            self.cur[name] = ino
        self.durable_ns = dict(self.cur)
        self.pending_ns = []  # ("link", name, ino) | ("rename", old, new) | ("unlink", name)
        self.unknown = 0

    def _ns(self, op, ns):
        if op[0] == "link":
            ns[op[1]] = op[2]
        elif op[0] == "rename":
            if op[1] in ns:
                ns[op[2]] = ns.pop(op[1])
        else:
            ns.pop(op[1], None)

    def replay(self, records):
        for op, name, ino, a, b, data in records:
            if op == PC_OPEN:
                if a or ino not in self.inodes or self.cur.get(name) != ino:
                    if a or ino not in self.inodes:
                        self.inodes[ino] = Inode()
                    n = ("link", name, ino)
                    self._ns(n, self.cur)
                    self.pending_ns.append(n)
                if b:
                    self.inodes[ino].ops.append(("t", 0))
            elif op == PC_WRITE:
                if ino in self.inodes:
                    self.inodes[ino].ops.append(("w", a, bytes(data)))
                else:
                    self.unknown += 1
            elif op == PC_TRUNC:
                if ino in self.inodes:
                    self.inodes[ino].ops.append(("t", a))
            elif op == PC_SYNC:
                if a:  # the directory: its names as they are now
                    self.durable_ns = dict(self.cur)
                    self.pending_ns = []
                elif ino in self.inodes:
                    node = self.inodes[ino]
                    node.durable = node.current()
                    node.ops = []
            elif op == PC_RENAME:
                n = ("rename", name, data.decode("utf-8", "replace"))
                self._ns(n, self.cur)
                self.pending_ns.append(n)
            elif op == PC_UNLINK:
                n = ("unlink", name)
                self._ns(n, self.cur)
                self.pending_ns.append(n)
            elif op == PC_MMAP:
                if ino in self.inodes:
                    self.inodes[ino].mapped = True

    def killed(self, real_dir):
        """The files as the killed process left them: what mapped writes put there."""
        for name, ino in self.cur.items():
            node = self.inodes.get(ino)
            p = os.path.join(real_dir, name)
            if node and node.mapped and os.path.exists(p):
                with open(p, "rb") as f:
                    node.ops.append(("snap", f.read()))

    def materialize(self, out_dir, rng, mode="random"):
        """Writes the directory a disk would hold into out_dir; returns a short
        description of the choice made."""
        ns = dict(self.durable_ns)
        k = len(self.pending_ns) if mode == "max" else 0 if mode == "min" else \
            rng.randint(0, len(self.pending_ns))
        for op in self.pending_ns[:k]:
            self._ns(op, ns)
        os.makedirs(out_dir, exist_ok=True)
        for name, ino in ns.items():
            node = self.inodes.get(ino)
            if node is None:
                continue
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(on_disk(node, rng, mode))
        pend = sum(len(n.ops) for n in self.inodes.values())
        return f"{k}/{len(self.pending_ns)} name changes kept, {pend} unsynced writes"


def base_of(dir_):
    """{name: (ino, bytes)} of a directory's regular files."""
    out = {}
    for name in sorted(os.listdir(dir_)):
        p = os.path.join(dir_, name)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                out[name] = (os.stat(p).st_ino, f.read())
    return out


def self_test():
    """A few hand-made logs: synced data stays, unsynced may go, names need the dir."""
    rng = random.Random(1)
    d = Disk({"a": (1, b"x" * 1024)})
    d.replay([(PC_WRITE, "", 1, 0, 0, b"y" * 1024), (PC_SYNC, "", 1, 0, 0, b""),
              (PC_WRITE, "", 1, 1024, 0, b"z" * 1024),
              (PC_OPEN, "b", 2, 1, 0, b""), (PC_WRITE, "", 2, 0, 0, b"q" * 10),
              (PC_SYNC, "", 2, 0, 0, b"")])
    assert on_disk(d.inodes[1], rng, "min") == b"y" * 1024
    assert on_disk(d.inodes[1], rng, "max") == b"y" * 1024 + b"z" * 1024
    seen = {len(on_disk(d.inodes[1], rng, "random")) for _ in range(50)}
    assert seen == {1024, 2048}, seen
    assert d.durable_ns == {"a": 1} and d.cur == {"a": 1, "b": 2}
    d.replay([(PC_SYNC, "", 99, 1, 0, b"")])
    assert d.durable_ns == {"a": 1, "b": 2}


if __name__ == "__main__":
    self_test()
    print("powercut_support: self-test ok")
