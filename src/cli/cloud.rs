//! The one way `plan`, `apply` and `check` reach their clouds: connect to each (all at once),
//! then observe each with one listing.
//!
//! Why in one place: what a command sees of Glance must not depend on which command asked —
//! `check` once listed Glance its own way, without the retry policy `plan` used. Errors name the
//! cloud unless they already do.

use std::sync::Arc;

use crate::glance::{self, ConnectOptions, GlanceClient, ObservedState};

/// Connects to every cloud in `clouds`, all at once.
pub(super) async fn connect(clouds: &[ConnectOptions]) -> anyhow::Result<Vec<Arc<GlanceClient>>> {
    futures::future::try_join_all(clouds.iter().map(|options| async move {
        let label = options
            .cloud
            .as_deref()
            .unwrap_or("from OS_CLOUD / OS_* variables");
        GlanceClient::connect(options)
            .await
            .map(Arc::new)
            .map_err(|e| in_cloud(label, e))
    }))
    .await
}

/// Observes every cloud once (the listing and the import methods), all at once.
pub(super) async fn observe(clients: &[Arc<GlanceClient>]) -> anyhow::Result<Vec<ObservedState>> {
    futures::future::try_join_all(clients.iter().map(|client| async move {
        let observed = client
            .observe()
            .await
            .map_err(|e| in_cloud(client.cloud(), e))?;
        tracing::info!(
            "cloud {}: {} images observed in {} Glance API calls",
            client.cloud(),
            observed.images.len(),
            client.api_calls()
        );
        Ok(observed)
    }))
    .await
}

/// Names the cloud in an error, unless the error already does (or is about configuration).
pub(super) fn in_cloud(cloud: &str, error: glance::Error) -> anyhow::Error {
    match error {
        glance::Error::Auth { .. }
        | glance::Error::Endpoint { .. }
        | glance::Error::Config { .. } => error.into(),
        _ => anyhow::Error::new(error).context(format!("cloud `{cloud}`")),
    }
}
