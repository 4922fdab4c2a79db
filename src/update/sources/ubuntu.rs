//! Ubuntu cloud images (cloud-images.ubuntu.com): `<codename>/YYYYMMDD/` folders (and
//! `releases/<codename>/release-YYYYMMDD/`), each with `SHA256SUMS` (`<hex> *<file>`) and the
//! image under the same file name in every folder.

use super::dated::Layout;

pub(super) const LAYOUT: Layout = Layout {
    sums: "SHA256SUMS",
    folder_in_file_name: false,
};
