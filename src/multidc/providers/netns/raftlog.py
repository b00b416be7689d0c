"""Where a node's Raft log ends (term and index of its last entry), read from its data directory: the same for a
stopped server and a running one, without starting, signalling or locking anything.

OpenBao keeps its Raft log in `raft/raft.db`, a BoltDB file (raft-boltdb: bucket `logs`, keys the big-endian index,
values msgpack-encoded entries), and after a compaction the newest snapshot's `meta.json` says where the log it
replaced ended. No maintained Python reader of BoltDB exists, so the read-only walk down the right edge of one bucket
lives here (the format: go.etcd.io/bbolt's page.go and node.go)."""

from __future__ import annotations

import json
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import msgpack

MAGIC = 0xED0CDAED
PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
# magic, version, page size, flags, root bucket (root page, sequence), freelist, high-water page, txid, checksum
META = struct.Struct("<IIIIQQQQQQ")
ELEMENT = struct.Struct("<IIII")  # leaf: flags, pos, ksize, vsize; branch: pos, ksize, page id (the last two fields)
BRANCH = 0x01
BUCKET_HEADER = 16  # a bucket's value: root page (0: the bucket is inline, its page follows), sequence
READ_TRIES = 20  # a running server may commit while we walk: read again (bounded) until nothing moved under us


@dataclass(frozen=True, order=True)
class Position:
    """The last entry of a Raft log; compared as Raft compares logs (term first, then index)."""

    term: int
    index: int

    def __str__(self) -> str:
        return f"index {self.index}, term {self.term}"


class Unreadable(Exception):
    """The node's Raft data is not what OpenBao writes (the reason in one line)."""


def _fnv64a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class _Bolt:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.page_size = mmap.PAGESIZE

    def meta(self) -> tuple[int, int]:
        """(txid, root bucket page) of the newest intact meta page (bbolt writes the two in turn)."""
        found = []
        for n in (0, 1):
            raw = os.pread(self.fd, PAGE_HEADER.size + META.size, n * self.page_size)
            if len(raw) < PAGE_HEADER.size + META.size:
                continue
            m = META.unpack_from(raw, PAGE_HEADER.size)
            if m[0] == MAGIC and _fnv64a(raw[PAGE_HEADER.size : PAGE_HEADER.size + META.size - 8]) == m[9]:
                if n == 0:
                    self.page_size = m[2]
                found.append((m[8], m[4]))
        if not found:
            raise Unreadable("not a BoltDB file (no intact meta page)")
        return max(found)

    def page(self, pgid: int) -> tuple[int, int, bytes]:
        head = os.pread(self.fd, PAGE_HEADER.size, pgid * self.page_size)
        if len(head) < PAGE_HEADER.size:
            raise Unreadable(f"page {pgid} lies past the end of the file")
        _, flags, count, overflow = PAGE_HEADER.unpack(head)
        return flags, count, os.pread(self.fd, (overflow + 1) * self.page_size, pgid * self.page_size)

    @staticmethod
    def elements(flags: int, count: int, buf: bytes, base: int = 0) -> list[tuple[bytes, int, bytes]]:
        """A page's elements as (key, child page or leaf flags, value); positions count from each element."""
        out = []
        for i in range(count):
            at = base + PAGE_HEADER.size + i * ELEMENT.size
            if at + ELEMENT.size > len(buf):
                raise Unreadable("a page's element lies outside it")
            a, b, c, d = ELEMENT.unpack_from(buf, at)
            if flags & BRANCH:
                out.append((buf[at + a : at + a + b], c | d << 32, b""))
            else:
                out.append((buf[at + b : at + b + c], a, buf[at + b + c : at + b + c + d]))
        return out

    def last(self, bucket: bytes) -> tuple[int, tuple[bytes, bytes] | None]:
        """(txid, the bucket's last key and value), or None for an empty or missing bucket."""
        txid, root = self.meta()
        value = next((v for k, _, v in self.elements(*self.page(root)) if k == bucket), None)
        if value is None or len(value) < BUCKET_HEADER:
            return txid, None
        pgid = struct.unpack_from("<Q", value)[0]
        if pgid == 0:  # an inline bucket: its single leaf page is stored inside the value
            _, flags, count, _ = PAGE_HEADER.unpack_from(value, BUCKET_HEADER)
            items = self.elements(flags, count, value, BUCKET_HEADER)
        else:
            for _ in range(64):  # a B+tree's depth; more means a loop in a damaged file
                flags, count, buf = self.page(pgid)
                items = self.elements(flags, count, buf)
                if not flags & BRANCH or not items:
                    break
                pgid = items[-1][1]
            else:
                raise Unreadable(f"bucket {bucket.decode()} is deeper than any BoltDB tree")
        return txid, ((items[-1][0], items[-1][2]) if items else None)


def _last_log(db: Path) -> Position | None:
    try:
        fd = os.open(db, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Unreadable(f"{db}: {exc.strerror}") from None
    try:
        bolt = _Bolt(fd)
        for _ in range(READ_TRIES):
            txid, last = bolt.last(b"logs")
            # pages reachable from transaction N are reused from N+2 on: up to N+1, what we read was whole
            if bolt.meta()[0] <= txid + 1:
                break
        else:
            raise Unreadable(f"{db} kept changing while it was read")
    except (struct.error, ValueError) as exc:
        raise Unreadable(f"{db}: {exc}") from None
    finally:
        os.close(fd)
    if last is None:
        return None
    try:
        entry = msgpack.unpackb(last[1], raw=True, strict_map_key=False)
        return Position(int(entry[b"Term"]), int(entry[b"Index"]))
    except (ValueError, KeyError, TypeError, msgpack.UnpackException) as exc:
        raise Unreadable(f"{db}: its last log entry is not a Raft log entry ({exc})") from None


def _last_snapshot(snapshots: Path) -> Position | None:
    best = None
    for meta in snapshots.glob("*/meta.json") if snapshots.is_dir() else ():
        try:
            data = json.loads(meta.read_text())
            found = Position(int(data["Term"]), int(data["Index"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise Unreadable(f"{meta}: {exc}") from None
        best = max(best or found, found)
    return best


def last_position(data: Path) -> Position:
    """Where the Raft log kept under `data` (a node's raft directory) ends; (0, 0) for a node that holds none."""
    found = [p for p in (_last_log(data / "raft" / "raft.db"), _last_snapshot(data / "raft" / "snapshots")) if p]
    return max(found, default=Position(0, 0))
