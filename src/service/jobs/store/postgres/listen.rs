//! The change feed's listener: one connection per store handle (outside the pool) that `LISTEN`s on
//! `tws_jobs` (a job's id and revision, sent by the transaction that changed it, delivered when it
//! commits) and `tws_progress` (a scanning job's progress, sent as it is published), and turns each
//! notification into a `StoreChange` on the store's broadcast channel. When the connection drops it is
//! made again (backing off up to `MAX_BACKOFF`); notifications sent meanwhile are lost, so each
//! reconnection is followed by `StoreChange::Resync`.

use std::time::Duration;

use futures_util::{StreamExt, stream};
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::model::Failure;
use crate::service::jobs::store::StoreChange;

/// Longest wait between two attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Connects and listens now (so no change committed after `open` returns is missed), then keeps
/// listening on a task of the store's runtime until the runtime stops.
pub(super) async fn start(
    config: Config,
    tls: MakeRustlsConnect,
    changes: broadcast::Sender<StoreChange>,
) -> Result<(), Failure> {
    let (client, messages) = connect(&config, &tls, changes.clone()).await?;
    tokio::spawn(async move {
        let mut current = Some((client, messages));
        let mut backoff = Duration::from_millis(250);
        loop {
            if let Some((client, messages)) = current.take() {
                // Held until the connection ends: dropping the client would end it.
                let _ = messages.await;
                drop(client);
                tracing::warn!("job store: the change feed's connection ended; listening again");
            }
            match connect(&config, &tls, changes.clone()).await {
                Ok(connected) => {
                    backoff = Duration::from_millis(250);
                    current = Some(connected);
                    let _ = changes.send(StoreChange::Resync);
                }
                Err(error) => {
                    tracing::warn!(%error, "job store: the change feed cannot listen yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    });
    Ok(())
}

/// A listening connection, and the task that forwards its notifications until it ends.
async fn connect(
    config: &Config,
    tls: &MakeRustlsConnect,
    changes: broadcast::Sender<StoreChange>,
) -> Result<(Client, tokio::task::JoinHandle<()>), Failure> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let forward = tokio::spawn(async move {
        let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    if let Some(change) = parse(note.channel(), note.payload()) {
                        // No receiver now is fine: nobody is following changes yet.
                        let _ = changes.send(change);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "job store: the change feed's connection failed");
                    break;
                }
            }
        }
    });
    client.batch_execute("LISTEN tws_jobs; LISTEN tws_progress").await?;
    Ok((client, forward))
}

/// A notification's change: `tws_jobs` carries `revision:id`, `tws_progress` `event_id id json`.
/// Anything else (written by hand into the channel) is ignored.
pub(super) fn parse(channel: &str, payload: &str) -> Option<StoreChange> {
    match channel {
        "tws_jobs" => {
            let (revision, id) = payload.split_once(':')?;
            Some(StoreChange::Job {
                id: id.to_string(),
                revision: revision.parse().ok()?,
            })
        }
        "tws_progress" => {
            let (event_id, rest) = payload.split_once(' ')?;
            let (id, progress) = rest.split_once(' ')?;
            Some(StoreChange::Progress {
                id: id.to_string(),
                event_id: event_id.parse().ok()?,
                progress: progress.as_bytes().to_vec(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_parse_into_changes_and_strangers_are_ignored() {
        assert_eq!(
            parse("tws_jobs", "7:r1_ab:cd"),
            Some(StoreChange::Job {
                id: "r1_ab:cd".into(),
                revision: 7
            })
        );
        assert_eq!(
            parse("tws_progress", "30064771073 j1 {\"a\": 1}"),
            Some(StoreChange::Progress {
                id: "j1".into(),
                event_id: 30_064_771_073,
                progress: b"{\"a\": 1}".to_vec()
            })
        );
        for (channel, payload) in [
            ("tws_jobs", "x:j"),
            ("tws_jobs", "7"),
            ("tws_progress", "1 j"),
            ("other", "1:j"),
        ] {
            assert_eq!(parse(channel, payload), None, "{channel} {payload}");
        }
    }
}
