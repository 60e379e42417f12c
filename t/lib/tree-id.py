#!/usr/bin/env python3
# tree-id.py FILE...: the tree content id of each FILE (store format 3), as
# Documentation/technical/store-format.md defines it, computed independently
# of cdt for the tests: 1 MiB leaves H(0x00 || leaf) (an empty file is one
# empty leaf), RFC 6962's Merkle tree hash with nodes H(0x01 || l || r), and
# H("cdt-tree-1" || u64le(size) || root). Prints the id and the file, as
# sha256sum does.
import hashlib
import struct
import sys

LEAF = 1 << 20


def h(data):
    return hashlib.sha256(data).digest()


def mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return h(b'\x01' + mth(leaves[:k]) + mth(leaves[k:]))


def tree_id(f):
    leaves, size = [], 0
    while True:
        piece = f.read(LEAF)
        if not piece and leaves:
            break
        # A short read before the end would cut a leaf short: fill it.
        while 0 < len(piece) < LEAF:
            more = f.read(LEAF - len(piece))
            if not more:
                break
            piece += more
        leaves.append(h(b'\x00' + piece))
        size += len(piece)
        if len(piece) < LEAF:
            break
    return h(b'cdt-tree-1' + struct.pack('<Q', size) + mth(leaves)).hex()


for name in sys.argv[1:]:
    if name == '-':
        print(tree_id(sys.stdin.buffer) + '  -')
    else:
        with open(name, 'rb') as f:
            print(tree_id(f) + '  ' + name)
