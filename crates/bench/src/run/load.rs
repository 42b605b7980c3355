//! The two ways of applying load: closed-loop workers, and a dispatcher that
//! sends on a fixed schedule.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until};

use super::Shared;
use crate::client::Client;
use crate::error::RequestError;
use crate::recorder::Recorder;

/// Closed loop: pause after a failed connection or transport error, so that
/// a server that went away is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// Fixed rate: a request sent later than this after its due time is delayed
/// (twice the timer's resolution).
const LATE_TOLERANCE: Duration = Duration::from_millis(2);

/// A worker with its own connection: sends, waits for the answer, sends
/// again, until told to stop or the budget is spent.
pub async fn closed_loop(
    shared: Arc<Shared>,
    recorder: Arc<Recorder>,
    stop: watch::Receiver<bool>,
) {
    let mut client = None;
    while !*stop.borrow() && recorder.try_issue() {
        let connected = match client.take() {
            Some(connected) => Some(connected),
            None => connect(&shared, &recorder).await,
        };
        let Some(mut connected) = connected else {
            sleep(RECONNECT_PAUSE).await;
            continue;
        };
        let started = Instant::now();
        let result = connected.infer().await;
        let transport_failed = matches!(result, Err(RequestError::Transport(_)));
        recorder.record(started.elapsed(), result);
        client = Some(connected);
        if transport_failed {
            sleep(RECONNECT_PAUSE).await; // the server may be gone
        }
    }
}

/// Sends request `i` at `start + i / rate`, each on a connection of a pool of
/// `--max-outstanding`; when all are busy the next request waits for one
/// and is counted as delayed if it leaves late.
pub async fn fixed_rate(
    shared: Arc<Shared>,
    recorder: Arc<Recorder>,
    mut stop: watch::Receiver<bool>,
    rate: f64,
) {
    let slots = shared.settings.max_outstanding.max(1);
    let (slot_sender, mut slot_receiver) = mpsc::channel::<Option<Client>>(slots);
    for _ in 0..slots {
        let _ = slot_sender.try_send(None); // a connection not yet opened
    }
    let mut requests = JoinSet::new();
    let start = Instant::now();
    for index in 0u64.. {
        let due = start + Duration::from_secs_f64(index as f64 / rate);
        let slot = tokio::select! {
            _ = stop.changed() => break,
            slot = async {
                sleep_until(due).await;
                slot_receiver.recv().await
            } => slot,
        };
        let Some(slot) = slot else { break };
        if *stop.borrow() || !recorder.try_issue() {
            break;
        }
        if Instant::now() > due + LATE_TOLERANCE {
            recorder.record_delayed();
        }
        let (shared, recorder, slot_sender) =
            (shared.clone(), recorder.clone(), slot_sender.clone());
        requests.spawn(async move {
            let mut client = match slot {
                Some(client) => Some(client),
                None => connect(&shared, &recorder).await,
            };
            if let Some(client) = &mut client {
                let started = Instant::now();
                let result = client.infer().await;
                recorder.record(started.elapsed(), result);
            }
            let _ = slot_sender.try_send(client); // its own slot: never full
        });
        while requests.try_join_next().is_some() {}
    }
    while requests.join_next().await.is_some() {}
}

/// A new connection; a failure is recorded as one failed request.
async fn connect(shared: &Shared, recorder: &Recorder) -> Option<Client> {
    match Client::connect(&shared.clients, &shared.payload).await {
        Ok(client) => Some(client),
        Err(error) => {
            recorder.record(Duration::ZERO, Err(error));
            None
        }
    }
}
