// The Keystone + Glance sandbox (ci/sandbox.sh): connect helpers, unique names, cleanup.
mod sandbox;
// The real binary: one runner for every CLI test.
mod cli;
// Catalog builders: test definitions, catalog files.
mod catalogs;
// The CLI surface: --version, completions, man pages, openstackclient flags, the JSON contract.
mod surface;
// `glance` against the real sandbox: auth, listing, data paths, error variants.
mod glance_smoke;
// The image watcher: one status read for every image waited on, fallbacks, timeouts.
mod watch;
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
// images.d applied onto the sandbox passes `check` as member; broken properties fail it.
mod check_apply;
// Every testcase of the spec on Glance: all 34 pass on a compliant set, each fails violated.
mod check_spec;
// `transfer` against the upstream mirror: downloads, resume, retries, decompression, checksums.
mod transfer;
// `apply` under upstream faults (both data paths) and format refusals, against the sandbox.
mod apply_faults;
// `apply` killed with SIGKILL or crashed mid-way converges on the next run; 2 GiB in flat memory.
mod apply_crash;
// `apply` against the sandbox and the upstream mirror: creates, methods, fan-out, the CLI.
mod apply;
// A first import of many images: calls per image, the marker off with the publish, overlap.
mod apply_first_import;
// Helpers shared by `apply` and `apply_rotation`.
mod apply_support;
// `apply` on existing images: rotation, retention (uuid_validity × --prune), drift, ownership.
mod apply_rotation;
// Sharing: catalog `shared` lists as Glance image members (demo sees, unshared, pending,
// who may accept, unresolvable names, one member read per image, lost answers repeated).
mod share;
// Overlapping `apply` runs (at once, mid-upload, kill -9 with a waiting restart) and clouds
// holding duplicates: one image per catalog version.
mod apply_overlap;
// Fault-injection reverse proxy before Glance, reached through a Keystone catalog region.
mod proxy;
// `apply` and `plan` through the fault proxy: 503s and lost answers, retried and converged.
mod apply_flaky;
// Logging in to the sandbox Keystone through the fault proxy: retries, redirects, caps.
mod keystone;
// Hostile input: no secret in plan/validate/update output, size caps, safe writes, private CAs.
mod security;
// The sandbox's S3 server (SeaweedFS): where it is, signed checks with curl, cleanup.
mod s3;
// `mirror` into the real S3 (verified, all or nothing, resumed, re-runs only HEAD), `apply`
// from mirror_urls with the fallback to url, `update --mirror`, no secret in the output.
mod mirror;
