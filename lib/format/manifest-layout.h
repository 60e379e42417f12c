/* manifest-layout.h: the bytes of a manifest, for its reader and writer (manifest.h) and for manifest packs (mpack.h). */
#ifndef CDT_MANIFEST_LAYOUT_H
#define CDT_MANIFEST_LAYOUT_H

/*
 * manifests/XX/<62 hex of the file's SHA-256>:
 *   "CDTM" version(1) reserved(3)
 *   count x { chunk id (32), end offset of the chunk in the file (LE64) }
 *   count (LE64), file size (LE64), file id (32),
 *   checksum (32): SHA-256 of every byte before it
 * Fixed-size records let a reader find the chunk for any offset by binary
 * search without loading the list; the trailer is last so that a writer can
 * stream records of a file of any size and hash them as it goes.
 */
#define CDT_MANIFEST_MAGIC "CDTM"
#define CDT_MANIFEST_VERSION 1
#define CDT_MANIFEST_HDR 8
#define CDT_MANIFEST_REC 40
#define CDT_MANIFEST_TRAILER 80

#endif
