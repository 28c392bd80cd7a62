#!/usr/bin/env bash
# Prepares the Linux guest used by the QEMU interop test and the demo, at run
# time, from Debian packages (nothing binary lives in the repo):
#   - Debian's kernel (the linux-image-6.1.0-*-amd64 that linux-image-amd64
#     depends on), as bzImage and as the uncompressed vmlinux for PVH boot;
#   - an initramfs (cpio newc, gzip) with busybox-static, the virtio-net
#     modules, iperf3 and ethtool with their shared libraries, and /init.
# Results are cached in CACHE_DIR (default /var/cache/vhostd-test): the kernel
# per kernel version, the initramfs per kernel version and input hash, so a
# second run takes a fraction of a second.
#
# Usage: build-guest.sh [CACHE_DIR]
# Prints, on stdout, shell assignments for the caller to eval:
#   GUEST_KVER=...  GUEST_VMLINUX=...  GUEST_BZIMAGE=...  GUEST_INITRD=...
# Progress goes to stderr. Needs root for apt-get (only on a cache miss).
# Environment: VHOSTD_GUEST_KPKG=linux-image-... pins the kernel package.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${1:-/var/cache/vhostd-test}
init_script=$here/guest-init.sh
extractor=$here/extract-vmlinux.py

# Modules the virtio-net NIC needs; their own dependencies are added below.
want_modules=(virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio virtio_pci
	failover net_failover virtio_net)
# User-space programs copied into the guest with the libraries ldd reports.
guest_programs=(iperf3 ethtool)

log() {
	echo "build-guest: $*" >&2
}

die() {
	log "error: $*"
	exit 1
}

# kernel_package: prints the versioned kernel package name to use.
kernel_package() {
	if [ -n "${VHOSTD_GUEST_KPKG:-}" ]; then
		echo "$VHOSTD_GUEST_KPKG"
		return 0
	fi
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
	if [ -z "$pkg" ]; then
		log "apt-cache knows no linux-image-amd64; running apt-get update"
		apt-get update -q >&2 || true
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
	fi
	[ -n "$pkg" ] || return 1
	echo "$pkg"
}

# build_kernel KVER PKG DIR: downloads PKG and fills DIR with vmlinuz, vmlinux
# and the needed modules (uncompressed, plus load-order), atomically.
build_kernel() {
	local kver=$1 pkg=$2 dir=$3
	local work
	work=$(mktemp -d "$cache/.kernel.XXXXXX")
	log "downloading $pkg"
	# apt-get download fetches as the _apt user into the current directory.
	chown _apt "$work" 2>/dev/null || true
	(cd "$work" && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
	log "unpacking $pkg"
	dpkg-deb -x "$work"/*.deb "$work/root"
	rm -f "$work"/*.deb
	mkdir -p "$work/out/modules"
	cp "$work/root/boot/vmlinuz-$kver" "$work/out/vmlinuz"
	cp "$work/root/boot/config-$kver" "$work/out/config"
	python3 "$extractor" "$work/out/vmlinuz" "$work/out/vmlinux" >&2 ||
		log "warning: could not extract vmlinux; only bzImage boot will work"

	# Resolve dependencies depth first so every module follows what it needs.
	local moddir=$work/root/lib/modules/$kver
	local -A seen=()
	local order=()
	add_module() {
		local m=$1 f dep
		[ -z "${seen[$m]:-}" ] || return 0
		seen[$m]=1
		if grep -qE "/$m\.ko(\.[a-z]+)?$" "$moddir/modules.builtin" 2>/dev/null; then
			return 0 # built into the kernel
		fi
		f=$(find "$moddir/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o \
			-name "$m.ko.gz" | head -n 1)
		[ -n "$f" ] || die "module $m not found in $pkg"
		for dep in $(modinfo -F depends "$f" | tr ',' ' '); do
			add_module "$dep"
		done
		case "$f" in
		*.ko.xz) xz -dc "$f" >"$work/out/modules/$m.ko" ;;
		*.ko.zst) zstd -dcq "$f" >"$work/out/modules/$m.ko" ;;
		*.ko.gz) gzip -dc "$f" >"$work/out/modules/$m.ko" ;;
		*) cp "$f" "$work/out/modules/$m.ko" ;;
		esac
		order+=("$m")
	}
	local m
	for m in "${want_modules[@]}"; do
		# modinfo and the file names use underscores or dashes; try both.
		add_module "$m"
	done
	printf '%s\n' "${order[@]}" >"$work/out/modules/load-order"
	log "modules: ${order[*]}"
	rm -rf "$dir"
	mv "$work/out" "$dir"
	rm -rf "$work"
}

# copy_with_libs ROOT PROGRAM: copies PROGRAM and every library ldd lists
# (including the dynamic loader) into ROOT at the same paths.
copy_with_libs() {
	local root=$1 prog=$2 lib
	mkdir -p "$root$(dirname "$prog")"
	cp -L "$prog" "$root$prog"
	for lib in $(ldd "$prog" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

# build_initrd KDIR OUT: builds the gzip'ed newc initramfs into OUT.
build_initrd() {
	local kdir=$1 out=$2
	local work root p
	work=$(mktemp -d "$cache/.initrd.XXXXXX")
	root=$work/root
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,lib/modules,lib64}
	local bb
	bb=$(command -v busybox) || die "busybox not found (install busybox-static)"
	file -L "$bb" 2>/dev/null | grep -q 'statically linked' ||
		ldd "$bb" 2>&1 | grep -q 'not a dynamic executable' ||
		die "$bb is not static (install busybox-static)"
	cp -L "$bb" "$root/bin/busybox"
	for p in $("$bb" --list); do
		[ "$p" = busybox ] || ln -sf busybox "$root/bin/$p"
	done
	for p in "${guest_programs[@]}"; do
		local path
		path=$(command -v "$p") || die "$p not found on the host (see scripts/deps.txt)"
		copy_with_libs "$root" "$(readlink -f "$path")"
		# Keep the program reachable under its usual name too.
		[ -e "$root/usr/bin/$p" ] || ln -s "$(readlink -f "$path")" "$root/usr/bin/$p"
	done
	echo "/lib/x86_64-linux-gnu" >"$root/etc/ld.so.conf"
	echo "/usr/lib/x86_64-linux-gnu" >>"$root/etc/ld.so.conf"
	ldconfig -r "$root" 2>/dev/null || true
	printf 'root:x:0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	cp "$kdir/modules/"*.ko "$kdir/modules/load-order" "$root/lib/modules/"
	install -m 0755 "$init_script" "$root/init"
	mkdir -p "$root/jobs"
	for p in "$here"/jobs/*.sh; do
		[ -e "$p" ] && install -m 0644 "$p" "$root/jobs/"
	done
	(cd "$root" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 >"$work/initrd.gz"
	mv "$work/initrd.gz" "$out"
	rm -rf "$work"
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

kpkg=$(kernel_package) || {
	# No package index (offline?): fall back to the newest cached kernel.
	last=$(find "$cache" -maxdepth 1 -name "kernel-*" -type d | sort -V | tail -n 1)
	[ -n "$last" ] || die "cannot find the kernel package behind linux-image-amd64"
	kpkg=linux-image-${last##*/kernel-}
	log "no package index; using cached $kpkg"
}
kver=${kpkg#linux-image-}
kdir=$cache/kernel-$kver
if [ ! -s "$kdir/vmlinuz" ] || [ ! -s "$kdir/modules/load-order" ]; then
	log "kernel $kver not cached; building into $kdir"
	build_kernel "$kver" "$kpkg" "$kdir"
	# A newer kernel package replaces the older ones (~75 MB each).
	for old in "$cache"/kernel-*; do
		[ "$old" = "$kdir" ] || rm -rf "$old"
	done
fi

# The initramfs depends on this script, /init, and the host's binaries.
inputs_hash=$({
	cat "${BASH_SOURCE[0]}" "$init_script"
	cat "$here"/jobs/*.sh 2>/dev/null
	sha256sum "$(command -v busybox)" | cut -d' ' -f1
	for p in "${guest_programs[@]}"; do
		sha256sum "$(readlink -f "$(command -v "$p")")" | cut -d' ' -f1
	done
	cat "$kdir/modules/load-order"
} | sha256sum | cut -c1-16)
initrd=$cache/initrd-$kver-$inputs_hash.gz
if [ ! -s "$initrd" ]; then
	log "building initramfs $initrd"
	build_initrd "$kdir" "$initrd"
	# Older initramfs builds for any kernel are stale now.
	for old in "$cache"/initrd-*.gz; do
		[ "$old" = "$initrd" ] || rm -f "$old"
	done
fi

echo "GUEST_KVER=$kver"
if [ -s "$kdir/vmlinux" ]; then
	echo "GUEST_VMLINUX=$kdir/vmlinux"
else
	echo "GUEST_VMLINUX="
fi
echo "GUEST_BZIMAGE=$kdir/vmlinuz"
echo "GUEST_INITRD=$initrd"
