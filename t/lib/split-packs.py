#!/usr/bin/env python3
# split-packs.py PACKS: split every pack of version 1 in the directory PACKS
# into packs of one object each (with their indexes), as many small adds
# without gc leave them; the old packs and their sketches are removed.
import hashlib, os, struct, sys
packs = sys.argv[1]
for f in [f for f in os.listdir(packs) if f.endswith('.idx')]:
    name = f[:-4]
    idx = open(os.path.join(packs, f), 'rb').read()
    pack = open(os.path.join(packs, name + '.pack'), 'rb').read()
    assert idx[4] == 1
    count = struct.unpack_from('<Q', idx, 8)[0]
    for i in range(count):
        cid = idx[1040 + 32 * i:1072 + 32 * i]
        off, ln, crc = struct.unpack_from('<QII', idx, 1040 + 32 * count + 16 * i)
        body = b'CDTP\1\0\0\0' + pack[off:off + ln] + struct.pack('<Q', 1)
        sum_ = hashlib.sha256(body).digest()
        fan = b''.join(struct.pack('<I', int(k >= cid[0])) for k in range(256))
        ib = (b'CDTI\1\0\0\0' + struct.pack('<Q', 1) + fan + cid +
              struct.pack('<QII', 8, ln, crc) + sum_)
        new = os.path.join(packs, 'pack-' + sum_.hex())
        open(new + '.pack', 'wb').write(body + sum_)
        open(new + '.idx', 'wb').write(ib + hashlib.sha256(ib).digest())
    for ext in ('.idx', '.pack', '.sketch'):
        if os.path.exists(os.path.join(packs, name + ext)):
            os.unlink(os.path.join(packs, name + ext))
