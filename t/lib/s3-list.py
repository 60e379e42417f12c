#!/usr/bin/env python3
"""s3-list.py: the keys of one page of an S3 ListObjectsV2 answer.

    s3-list.py PAGE KEYS

Reads the XML answer in PAGE, appends its keys to KEYS, one a line, and
prints the continuation token of the next page (nothing on the last page).
An answer that is not a ListBucketResult (an S3 error, or not XML at all)
is an error: one line on stderr naming its code, and exit status 1.
Standard library only.
"""

import sys
import xml.etree.ElementTree as ET

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def child_text(elem, name):
    """The text of elem's child NAME, with or without the S3 namespace."""
    for tag in (NS + name, name):
        c = elem.find(tag)
        if c is not None:
            return c.text or ""
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: s3-list.py PAGE KEYS")
    page, keys_path = sys.argv[1], sys.argv[2]
    try:
        root = ET.parse(page).getroot()
    except (OSError, ET.ParseError) as e:
        sys.exit(f"s3-list.py: '{page}' is not an XML answer: {e}")
    tag = root.tag.split("}")[-1]
    if tag == "Error":
        sys.exit(f"s3-list.py: the listing failed: {child_text(root, 'Code')}")
    if tag != "ListBucketResult":
        sys.exit(f"s3-list.py: '{page}' is a {tag}, not a ListBucketResult")
    keys = []
    for c in list(root.findall(NS + "Contents")) + list(root.findall("Contents")):
        k = child_text(c, "Key")
        if k is None:
            sys.exit(f"s3-list.py: '{page}' has an entry without a key")
        keys.append(k)
    with open(keys_path, "a", encoding="utf-8") as f:
        for k in keys:
            f.write(k + "\n")
    truncated = child_text(root, "IsTruncated") == "true"
    token = child_text(root, "NextContinuationToken")
    if truncated:
        if not token:
            sys.exit(f"s3-list.py: '{page}' is truncated but has no continuation token")
        print(token)


if __name__ == "__main__":
    main()
