//! Proofs that Glance holds exactly the bytes that were verified on the way in: a lost answer
//! re-read ([`landed`]), Glance's own digest compared with ours ([`check_stored`]), and a
//! pulled image read back and hashed ([`read_back`]).

use bytes::Bytes;
use futures::StreamExt;

use super::create::Context;
use super::error::Error;
use crate::catalog::checksums::Algorithm;
use crate::glance::{self, GlanceClient, ImageStatus, ObservedImage};
use crate::plan::Way;
use crate::transfer;
use crate::transfer::hash::Digests;
use crate::transfer::pipeline::{self, Expected, Fanout, Verified};

/// Whether a stage or upload whose answer was lost (a load balancer closing the connection
/// after Glance answered) landed whole: Glance records the size only once all of the body is
/// in (`uploading` after a stage, `active` after a PUT /file). Partial data never matches the
/// size, and the `os_hash_value` check after activation proves the bytes either way; anything
/// else is treated as failed (the image is deleted and made again).
pub(super) async fn landed(client: &GlanceClient, id: &str, way: Way, bytes: u64) -> bool {
    let expected = match way {
        Way::GlanceDirect => ImageStatus::Uploading,
        Way::Upload => ImageStatus::Active,
        Way::WebDownload => return false,
    };
    match client.get_image(id).await {
        Ok(image) => image.status == expected && image.size == Some(bytes),
        Err(_) => false,
    }
}

/// Glance's `os_hash_value` must equal the digest of the bytes we verified: the end-to-end
/// proof that the store holds exactly the upstream bytes. When the cloud hashes with an
/// algorithm we did not compute, the image is read back.
pub(super) async fn check_stored(
    client: &GlanceClient,
    image: &ObservedImage,
    ours: &Digests,
) -> Result<(), Error> {
    let (Some(algo), Some(value)) = (
        image.os_hash_algo.as_deref(),
        image.os_hash_value.as_deref(),
    ) else {
        return Err(Error::Verify(
            "Glance reports no os_hash_value for the image".into(),
        ));
    };
    let Some(algorithm) = Algorithm::from_name(algo) else {
        return Err(Error::Verify(format!(
            "Glance hashes with `{algo}`, which this tool cannot verify"
        )));
    };
    let computed = match ours.get(algorithm) {
        Some(hex) => hex.to_owned(),
        None => {
            let mut stream = client.download(&image.id).await?;
            let mut hashers = transfer::hash::Hashers::new(&[algorithm]);
            while let Some(chunk) = stream.next().await {
                hashers.update(&chunk?).await;
            }
            hashers
                .finish()
                .await
                .get(algorithm)
                .unwrap_or_default()
                .to_owned()
        }
    };
    if computed.eq_ignore_ascii_case(value) {
        Ok(())
    } else {
        Err(Error::Verify(format!(
            "Glance stored different bytes: os_hash_value ({algo}) {value}, computed {computed}"
        )))
    }
}

/// Reads a pulled image back from Glance: format check and the catalog's digest, plus the
/// cloud's own algorithm.
pub(super) async fn read_back(
    ctx: &Context,
    client: &GlanceClient,
    image: &ObservedImage,
    expected: &Expected,
    label: &str,
) -> Result<Verified, Error> {
    let extra: Vec<Algorithm> = image
        .os_hash_algo
        .as_deref()
        .and_then(Algorithm::from_name)
        .into_iter()
        .collect();
    let stream = client.download(&image.id).await?;
    let stream = stream.map(|chunk: Result<Bytes, glance::Error>| {
        chunk.map_err(|e| transfer::Error::ReadBack(Box::new(e)))
    });
    let progress = ctx.hooks.transfer_started(label, image.size);
    let verified = pipeline::run(stream, expected, &extra, Fanout::new(), &|n| {
        progress.advance(n)
    })
    .await;
    progress.finish(verified.is_ok());
    Ok(verified?)
}
