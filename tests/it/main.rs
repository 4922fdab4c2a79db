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
