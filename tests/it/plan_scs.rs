//! `plan` warns before a change breaks an SCS main testcase that passes today.

use crate::catalogs::{definition, write_catalog};
use crate::plan::{create_active, desired_image, exact, plan_cli, resolve};
use crate::sandbox::{self, Cleanup, unique_name};

const TAG: &str = "managed_by_image_manager";
const UNIQUENESS: &str = "SCS testcase scs-0102-os_purpose-uniqueness would fail (it passes now)";

/// A public definition whose distro version no other test uses, so the uniqueness group
/// (architecture, os_distro, os_version) holds only this test's images.
fn public_definition(name: &str, versions: &[&str], on_rotate: &str) -> String {
    let extra = format!("    visibility: public\n{on_rotate}");
    definition(name, versions, "forever", &extra)
        .replace("os_version: '1'", &format!("os_version: '{name}'"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_that_keeps_two_generic_images_visible_is_warned_about() {
    // The warning needs the testcase to pass cloud-wide first (check_apply.rs breaks it).
    let _lock = sandbox::scs_lock();
    let client = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let name = unique_name("scs");
    // Glance holds version 1 as the current, public, generic image.
    let (_dir, only_v1) = write_catalog(&[public_definition(&name, &["1"], "")]);
    let desired = resolve(&only_v1, TAG);
    create_active(
        &client,
        &cleanup,
        &exact(desired_image(&desired, &name, "1")),
    )
    .await;

    // Version 2 arrives and on_rotate keeps version 1 generic: two visible generic images.
    let keep_generic = "    on_rotate:\n      meta:\n        os_purpose: generic\n";
    let (_dir2, bad) = write_catalog(&[public_definition(&name, &["1", "2"], keep_generic)]);
    let (code, _, stderr) = plan_cli(&bad, &["--cloud", "admin"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(UNIQUENESS), "{stderr}");
    assert!(
        stderr.contains(&name),
        "the offending images are named: {stderr}"
    );

    // The default rotation (generic → oldgeneric) breaks nothing.
    let (_dir3, good) = write_catalog(&[public_definition(&name, &["1", "2"], "")]);
    let (code, _, stderr) = plan_cli(&good, &["--cloud", "admin"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains(UNIQUENESS), "{stderr}");
    cleanup.run(&client).await;
}
