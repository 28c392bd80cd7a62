#!/usr/bin/env python3
# Extracts the uncompressed ELF vmlinux from a bzImage (vmlinuz), the way the
# kernel's scripts/extract-vmlinux does it: look for each compressor's magic
# bytes, try to decompress from every hit, keep the first result that is an
# x86-64 ELF image. QEMU boots that ELF through its PVH entry point, which
# skips the real-mode setup and the in-guest decompression (seconds under TCG).
#
# Usage: extract-vmlinux.py VMLINUZ OUTPUT
import bz2
import lzma
import shutil
import subprocess
import sys
import zlib

ELF_MAGIC = b"\x7fELF"


def inflate_gzip(blob):
    """Returns the gzip stream starting at blob[0] inflated; ignores trailing bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return d.decompress(blob)


def inflate_xz(blob):
    """Returns the xz stream starting at blob[0] decoded; ignores trailing bytes."""
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)


def inflate_lzma(blob):
    """Returns the legacy .lzma stream starting at blob[0] decoded."""
    return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(blob)


def inflate_bzip2(blob):
    """Returns the bzip2 stream starting at blob[0] decoded; ignores trailing bytes."""
    return bz2.BZ2Decompressor().decompress(blob)


def inflate_tool(argv):
    """Returns a decoder that pipes the blob through an external tool.

    The tool may complain about the bytes after the stream (the bzImage keeps
    going after the payload); whatever it wrote to stdout is still returned."""

    def run(blob):
        if shutil.which(argv[0]) is None:
            return b""
        p = subprocess.run(argv, input=blob, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, check=False)
        return p.stdout

    return run


# (name, magic, decoder): the same list scripts/extract-vmlinux walks.
CODECS = [
    ("gzip", b"\x1f\x8b\x08", inflate_gzip),
    ("xz", b"\xfd7zXZ\x00", inflate_xz),
    ("bzip2", b"BZh", inflate_bzip2),
    ("lzma", b"\x5d\x00\x00\x00", inflate_lzma),
    ("lzo", b"\x89LZO", inflate_tool(["lzop", "-dc"])),
    ("lz4", b"\x02\x21\x4c\x18", inflate_tool(["lz4", "-dc"])),
    ("zstd", b"\x28\xb5\x2f\xfd", inflate_tool(["zstd", "-dcq"])),
]


def is_vmlinux(data):
    """True when data is a 64-bit little-endian x86-64 ELF executable."""
    if len(data) < 64 or not data.startswith(ELF_MAGIC):
        return False
    ei_class, ei_data = data[4], data[5]
    e_machine = int.from_bytes(data[18:20], "little")
    return ei_class == 2 and ei_data == 1 and e_machine == 0x3E


def extract(image):
    """Returns (codec name, vmlinux bytes), or (None, None) when nothing decodes."""
    if is_vmlinux(image):
        return "none", image
    for name, magic, decode in CODECS:
        pos = image.find(magic)
        while pos >= 0:
            try:
                out = decode(image[pos:])
            except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError):
                out = b""
            if is_vmlinux(out):
                return name, out
            pos = image.find(magic, pos + 1)
    return None, None


def main():
    """Writes the extracted vmlinux to argv[2]; exit status 1 when none found."""
    if len(sys.argv) != 3:
        print("usage: extract-vmlinux.py VMLINUZ OUTPUT", file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        image = f.read()
    name, vmlinux = extract(image)
    if vmlinux is None:
        print(f"extract-vmlinux: no compressed ELF kernel found in {sys.argv[1]}",
              file=sys.stderr)
        return 1
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "wb") as f:
        f.write(vmlinux)
    shutil.move(tmp, sys.argv[2])
    print(f"extract-vmlinux: {name} payload, {len(vmlinux)} bytes -> {sys.argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
