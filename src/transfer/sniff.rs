//! What the first bytes of an image say it is, checked against the declared `disk_format`.
//!
//! Glance's format inspector accepts a real qcow2 declared `raw` (with a warning only), and a
//! qcow2 with a backing or external data file can make a hypervisor read host files. So the
//! tool looks at the stream itself, before Glance ever activates it. Pure: bytes in, verdict
//! out; the caller feeds the first [`HEAD_LEN`] bytes (or all of a shorter image).

use crate::catalog::DiskFormat;

/// Bytes needed to recognise every format (an ISO 9660 volume descriptor sits at 0x8001).
pub const HEAD_LEN: usize = 0x8001 + 5;

/// A format recognised from its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detected {
    Qcow2,
    Vmdk,
    Vhdx,
    Vhd,
    Vdi,
    Iso,
    /// No known magic: raw disk data (or something raw-like).
    Raw,
}

/// Why a stream does not match what the catalog declares.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// The bytes are one format, the catalog says another.
    #[error("the image is {found:?} but the catalog declares `{declared}`")]
    Format {
        declared: DiskFormat,
        found: Detected,
    },
    /// A qcow2 that refers to another file: unsafe to boot from a shared image.
    #[error("the qcow2 image refers to a backing file; refusing an image that reads other files")]
    BackingFile,
    /// A qcow2 (v3) whose data lives in an external file.
    #[error("the qcow2 image uses an external data file; refusing an image that reads other files")]
    ExternalDataFile,
}

/// Recognises the format of an image from its first bytes.
pub fn detect(head: &[u8]) -> Detected {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"QFI\xfb") {
        Detected::Qcow2
    } else if at(0, b"KDMV") || at(0, b"# Disk DescriptorFile") {
        Detected::Vmdk
    } else if at(0, b"vhdxfile") {
        Detected::Vhdx
    } else if at(0, b"conectix") {
        // Dynamic VHDs start with a copy of the footer; fixed ones only end with it.
        Detected::Vhd
    } else if at(0x40, &[0x7f, 0x10, 0xda, 0xbe]) {
        Detected::Vdi
    } else if at(0x8001, b"CD001") {
        Detected::Iso
    } else {
        Detected::Raw
    }
}

/// Checks the first bytes against the declared format.
///
/// `raw` accepts anything but a recognised container format (a qcow2 declared raw would boot
/// as garbage); `ami`/`ari`/`aki`/`ploop` are not sniffed. A qcow2 must not name a backing
/// file or an external data file.
pub fn check(declared: DiskFormat, head: &[u8]) -> Result<Detected, Mismatch> {
    let found = detect(head);
    let expected = match declared {
        DiskFormat::Qcow2 => Some(Detected::Qcow2),
        DiskFormat::Vmdk => Some(Detected::Vmdk),
        DiskFormat::Vhdx => Some(Detected::Vhdx),
        DiskFormat::Vhd => Some(Detected::Vhd),
        DiskFormat::Vdi => Some(Detected::Vdi),
        DiskFormat::Iso => Some(Detected::Iso),
        DiskFormat::Raw => Some(Detected::Raw),
        DiskFormat::Ami | DiskFormat::Ari | DiskFormat::Aki | DiskFormat::Ploop => None,
    };
    // A fixed VHD is raw data with a footer at the end, indistinguishable at the start.
    let fixed_vhd = declared == DiskFormat::Vhd && found == Detected::Raw;
    if let Some(expected) = expected
        && expected != found
        && !fixed_vhd
    {
        return Err(Mismatch::Format { declared, found });
    }
    if found == Detected::Qcow2 {
        qcow2_safety(head)?;
    }
    Ok(found)
}

/// qcow2 header: version at 4, backing file offset at 8 (u64); v3 adds incompatible
/// features at 72, whose bit 2 means "external data file". All big-endian.
fn qcow2_safety(head: &[u8]) -> Result<(), Mismatch> {
    let u32_at = |o: usize| {
        head.get(o..o + 4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
    };
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap()))
    };
    if u64_at(8).is_some_and(|offset| offset != 0) {
        return Err(Mismatch::BackingFile);
    }
    let version = u32_at(4).unwrap_or(0);
    if version >= 3 && u64_at(72).is_some_and(|features| features & 0b100 != 0) {
        return Err(Mismatch::ExternalDataFile);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qcow2_header(version: u32, backing_offset: u64, incompatible: u64) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&version.to_be_bytes());
        h[8..16].copy_from_slice(&backing_offset.to_be_bytes());
        h[72..80].copy_from_slice(&incompatible.to_be_bytes());
        h
    }

    fn iso() -> Vec<u8> {
        let mut h = vec![0u8; HEAD_LEN];
        h[0x8001..0x8006].copy_from_slice(b"CD001");
        h
    }

    #[test]
    fn detects_each_format_by_its_magic() {
        let mut vdi = vec![0u8; 128];
        vdi[0x40..0x44].copy_from_slice(&[0x7f, 0x10, 0xda, 0xbe]);
        let cases: [(Vec<u8>, Detected); 8] = [
            (qcow2_header(3, 0, 0), Detected::Qcow2),
            (b"KDMV\x01\x00\x00\x00".to_vec(), Detected::Vmdk),
            (b"# Disk DescriptorFile\nversion=1".to_vec(), Detected::Vmdk),
            (b"vhdxfile\0\0".to_vec(), Detected::Vhdx),
            (b"conectix\0\0".to_vec(), Detected::Vhd),
            (vdi, Detected::Vdi),
            (iso(), Detected::Iso),
            (vec![0x42; 4096], Detected::Raw),
        ];
        for (head, expected) in cases {
            assert_eq!(detect(&head), expected);
        }
        assert_eq!(detect(b""), Detected::Raw);
        assert_eq!(detect(b"QF"), Detected::Raw);
    }

    #[test]
    fn a_qcow2_declared_raw_is_refused_and_vice_versa() {
        assert_eq!(
            check(DiskFormat::Raw, &qcow2_header(3, 0, 0)),
            Err(Mismatch::Format {
                declared: DiskFormat::Raw,
                found: Detected::Qcow2
            })
        );
        assert!(matches!(
            check(DiskFormat::Qcow2, &[0u8; 1024]),
            Err(Mismatch::Format {
                found: Detected::Raw,
                ..
            })
        ));
        assert!(matches!(
            check(DiskFormat::Iso, &[0u8; 1024]),
            Err(Mismatch::Format { .. })
        ));
        assert_eq!(check(DiskFormat::Iso, &iso()), Ok(Detected::Iso));
        assert_eq!(check(DiskFormat::Raw, &[7u8; 64]), Ok(Detected::Raw));
        assert_eq!(check(DiskFormat::Vhd, &[7u8; 64]), Ok(Detected::Raw));
        assert_eq!(
            check(DiskFormat::Ami, &qcow2_header(3, 0, 0)),
            Ok(Detected::Qcow2)
        );
    }

    #[test]
    fn unsafe_qcow2_headers_are_refused() {
        assert_eq!(
            check(DiskFormat::Qcow2, &qcow2_header(2, 0, 0)),
            Ok(Detected::Qcow2)
        );
        assert_eq!(
            check(DiskFormat::Qcow2, &qcow2_header(3, 0x1000, 0)),
            Err(Mismatch::BackingFile)
        );
        assert_eq!(
            check(DiskFormat::Qcow2, &qcow2_header(3, 0, 0b100)),
            Err(Mismatch::ExternalDataFile)
        );
        // Bit 2 means nothing in version 2 headers (no incompatible-features field).
        assert_eq!(
            check(DiskFormat::Qcow2, &qcow2_header(2, 0, 0b100)),
            Ok(Detected::Qcow2)
        );
        // Other incompatible features (dirty bit) are fine.
        assert_eq!(
            check(DiskFormat::Qcow2, &qcow2_header(3, 0, 0b1)),
            Ok(Detected::Qcow2)
        );
    }

    /// Every declared format there is.
    const DECLARED: [DiskFormat; 11] = [
        DiskFormat::Ami,
        DiskFormat::Ari,
        DiskFormat::Aki,
        DiskFormat::Vhd,
        DiskFormat::Vhdx,
        DiskFormat::Vmdk,
        DiskFormat::Raw,
        DiskFormat::Qcow2,
        DiskFormat::Vdi,
        DiskFormat::Iso,
        DiskFormat::Ploop,
    ];

    /// A stream head: a known magic (or none) at its offset, then arbitrary bytes, cut short
    /// anywhere, as a truncated download or a hostile server would send it.
    fn head() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let magic = prop::sample::select(vec![
            (0usize, &b""[..]),
            (0, b"QFI\xfb"),
            (0, b"KDMV"),
            (0, b"# Disk DescriptorFile"),
            (0, b"vhdxfile"),
            (0, b"conectix"),
            (0x40, &[0x7f, 0x10, 0xda, 0xbe][..]),
            (0x8001, b"CD001"),
        ]);
        (
            magic,
            prop::collection::vec(any::<u8>(), 0..200),
            any::<usize>(),
        )
            .prop_map(|((offset, magic), noise, cut)| {
                let mut head = noise;
                if head.len() < offset + magic.len() {
                    head.resize(offset + magic.len(), 0);
                }
                head[offset..offset + magic.len()].copy_from_slice(magic);
                head.truncate(cut % (head.len() + 1));
                head
            })
    }

    proptest::proptest! {
        #![proptest_config(crate::catalog::tests_props::config(256))]

        /// Any bytes: a verdict, never a panic; an accepted head is what `detect` says.
        #[test]
        fn prop_any_head_gets_a_verdict(head in head()) {
            let found = detect(&head);
            for declared in DECLARED {
                if let Ok(accepted) = check(declared, &head) {
                    proptest::prop_assert_eq!(accepted, found);
                }
            }
        }

        /// A qcow2 header cut anywhere, with any version, backing offset and features.
        #[test]
        fn prop_qcow2_headers_cut_anywhere(
            version: u32,
            backing: u64,
            features: u64,
            cut in 0..600usize,
        ) {
            let mut head = qcow2_header(version, backing, features);
            head.truncate(cut);
            let verdict = check(DiskFormat::Qcow2, &head);
            if cut >= 16 && backing != 0 {
                proptest::prop_assert_eq!(verdict, Err(Mismatch::BackingFile));
            }
        }
    }

    #[test]
    fn real_qcow2_files_from_qemu_img() {
        let dir = tempfile::tempdir().unwrap();
        let img = |args: &[&str]| {
            let status = std::process::Command::new("qemu-img")
                .args(args)
                .current_dir(dir.path())
                .stdout(std::process::Stdio::null())
                .status()
                .expect("qemu-img is installed");
            assert!(status.success(), "qemu-img {args:?}");
        };
        img(&["create", "-q", "-f", "qcow2", "base.qcow2", "16M"]);
        img(&[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "base.qcow2",
            "-F",
            "qcow2",
            "child.qcow2",
        ]);
        img(&[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            "data_file=data.raw",
            "ext.qcow2",
            "16M",
        ]);
        let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
        assert_eq!(
            check(DiskFormat::Qcow2, &read("base.qcow2")),
            Ok(Detected::Qcow2)
        );
        assert_eq!(
            check(DiskFormat::Qcow2, &read("child.qcow2")),
            Err(Mismatch::BackingFile)
        );
        assert_eq!(
            check(DiskFormat::Qcow2, &read("ext.qcow2")),
            Err(Mismatch::ExternalDataFile)
        );
    }
}
