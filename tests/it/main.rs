// The Keystone + Glance sandbox (ci/sandbox.sh): connect helpers, unique names, cleanup.
mod sandbox;
// `glance` against the real sandbox: auth, listing, data paths, error variants.
mod glance_smoke;
// `image-manager validate` on real and broken catalogs (the binary, exit codes, positions).
mod validate;
// In-process upstream mirror (generated images, sums files, Range, redirects, faults).
mod upstream;
// Self-tests of the upstream mirror: every feature and fault once, exact outcomes.
mod upstream_faults;
// `image-manager plan` against the sandbox: crafted images → expected plans, read-only, CLI, scale.
mod plan;
// `plan` at scale: 1,000 images, API calls counted.
mod plan_scale;
// `plan` warns before it breaks an SCS main testcase.
mod plan_scs;
// `image-manager update` against local upstream layouts: golden files, diff, keep-versions.
mod update;
// `image-manager check` (SCS scs-0102 / scs-0104) against the sandbox and offline on images.d.
mod check;
// `transfer` against the upstream mirror: downloads, resume, retries, decompression, checksums.
mod transfer;
