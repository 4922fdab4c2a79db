//! qcow2 images made by the real `qemu-img`: deterministic, sparse-ish like real cloud images, and
//! the hostile variants (backing file, external data file) importers must refuse.
//!
//! Built with the genuine tool rather than hand-written headers, so the image parser is tested
//! against what upstreams actually ship.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::content::fill_pseudo_random;

/// Runs `qemu-img` with the fixed words of `fixed` then `args` (no shell involved).
fn qemu_img(fixed: &str, args: &[&OsStr]) {
    let mut command = Command::new("qemu-img");
    command.args(fixed.split(' ')).args(args);
    let output = command.output().expect("qemu-img is installed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{command:?} failed: {stderr}");
}

/// Writes a deterministic qcow2 image `name` into `dir` and returns its path, holding nothing in
/// memory. Its `size_mb` MiB of raw content alternate pseudo-random and all-zero MiB blocks, so
/// that, like real cloud images, the file is smaller than its virtual size.
pub(crate) fn qcow2_file(dir: &Path, name: &str, size_mb: u64, seed: u64) -> PathBuf {
    const MIB: u64 = 1 << 20;
    let raw_path = dir.join(format!("{name}.raw"));
    let mut raw_file = io::BufWriter::new(File::create(&raw_path).expect("create raw"));
    let mut block = vec![0; MIB as usize];
    for index in 0..size_mb {
        block.fill(0);
        if index % 2 == 0 {
            fill_pseudo_random(seed, index * MIB, &mut block);
        }
        raw_file.write_all(&block).expect("write raw");
    }
    raw_file.flush().expect("flush raw");
    let out = dir.join(name);
    qemu_img(
        "convert -f raw -O qcow2",
        &[raw_path.as_os_str(), out.as_os_str()],
    );
    std::fs::remove_file(&raw_path).expect("remove raw");
    out
}

/// A small deterministic qcow2 image (see [`qcow2_file`]), in memory.
pub(crate) fn qcow2(size_mb: u64, seed: u64) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::read(qcow2_file(dir.path(), "image.qcow2", size_mb, seed)).expect("read qcow2")
}

/// A qcow2 overlay whose header names a backing file (`base.qcow2`). Importers must refuse it:
/// booting it would read another file of the host.
pub(crate) fn qcow2_with_backing() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = qcow2_file(dir.path(), "base.qcow2", 1, 0);
    let overlay = dir.path().join("overlay.qcow2");
    qemu_img(
        "create -f qcow2 -F qcow2 -b",
        &[base.as_os_str(), overlay.as_os_str()],
    );
    std::fs::read(overlay).expect("read overlay")
}

/// A qcow2 with an external data file (incompatible feature bit 2): must be refused too.
pub(crate) fn qcow2_with_data_file() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("external.qcow2");
    let option = format!("data_file={}", dir.path().join("external.data").display());
    qemu_img(
        "create -f qcow2 -o",
        &[option.as_ref(), image.as_os_str(), "1M".as_ref()],
    );
    std::fs::read(image).expect("read qcow2 with data file")
}
