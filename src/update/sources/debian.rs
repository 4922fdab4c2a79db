//! Debian cloud images (cloud.debian.org, cdimage.debian.org): `YYYYMMDD-NNNN/` folders with
//! `SHA512SUMS`; the image file name carries the folder name
//! (`debian-13-genericcloud-amd64-daily-20260717-2542.qcow2`), unlike `latest/`.

use super::dated::Layout;

pub(super) const LAYOUT: Layout = Layout {
    sums: "SHA512SUMS",
    folder_in_file_name: true,
};
