use super::*;

#[test]
fn a_private_hidden_image_is_published_by_its_name_alone() {
    let ops = publish_ops(None, "Debian 13", &Visibility::Private, true, false);
    assert_eq!(
        ops,
        [
            PatchOp::remove_property(UNVERIFIED),
            PatchOp::set_name("Debian 13"),
        ]
    );
}

#[test]
fn what_differs_from_the_created_image_is_set_in_the_same_patch() {
    let ops = publish_ops(
        Some("2026-11-30"),
        "Ubuntu 24.04",
        &Visibility::Public,
        false,
        true,
    );
    assert_eq!(
        ops,
        [
            PatchOp::remove_property(UNVERIFIED),
            PatchOp::set_property(BUILD_DATE, "2026-11-30"),
            PatchOp::set_name("Ubuntu 24.04"),
            PatchOp::set_visibility(&Visibility::Public),
            PatchOp::set_hidden(false),
            PatchOp::set_protected(true),
        ]
    );
}
