//! Live events inside the server: the writer thread that makes batches durable (group
//! commit), each user's events since the models were trained, and the popularity model's
//! count deltas. The recommendation routes read them; `mod.rs` wires the writer to the
//! model set.
//!
//! Which events count for a model: those with a sequence number above the model file's
//! `training.events_through` (0 for a model trained without events). Older events are in
//! the model's training data already.
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use reco_core::model_file::ModelKind;
use reco_core::recommender::{RecommendedItem, Recommender};

use crate::events::{Event, EventLog, Record};

/// Most events in one `POST /events` request.
pub const MAX_BATCH: usize = 1000;
/// Most events one group commit writes (the rest wait for the next sync).
const MAX_GROUP: usize = 50_000;
const SHARDS: usize = 16;

/// One stored event of a user.
struct LiveEvent {
    item: Arc<str>,
    weight: f32,
    seq: u64,
}

/// One user's live events and the memoized answers computed from them.
#[derive(Default)]
struct UserLive {
    events: Vec<LiveEvent>,
    /// Bumped by every new event of the user: a memo of an older version is stale.
    version: u64,
    /// Top lists by model generation, for `version` (cleared by the next event).
    memo: Mutex<Vec<Memo>>,
}

struct Memo {
    generation: u64,
    version: u64,
    items: Box<[RecommendedItem]>,
}

/// Users' live events by user id (one shard).
type UserEvents = HashMap<Box<str>, UserLive>;

/// What [`Live::lookup`] found for a user and a model.
pub enum Lookup {
    /// No event the model does not contain: answer as without live events.
    Nothing,
    /// A memoized top list (at least the `n` asked for) of this user's current history.
    Memo(Box<[RecommendedItem]>),
    /// Compute from these (item index, weight) events, then [`Live::memoize`] with `version`.
    Compute {
        /// The user's events the model knows, newer than its `events_through`.
        items: Vec<(u32, f32)>,
        /// The user's event version the answer is for.
        version: u64,
    },
}

/// What the writer thread can be asked.
enum Job {
    Append(
        Vec<Event>,
        tokio::sync::oneshot::Sender<Result<(u64, u64), String>>,
    ),
    Rotate(tokio::sync::oneshot::Sender<Result<u64, String>>),
    Archive(u64, tokio::sync::oneshot::Sender<Result<usize, String>>),
}

/// Counters of the events route and the log, for `/metrics`.
#[derive(Default)]
pub struct EventMetrics {
    /// Events acknowledged.
    pub accepted: AtomicU64,
    /// Events in rejected requests (bad event, too many, log failure).
    pub rejected: AtomicU64,
    /// Group commits (one sync each).
    pub commits: AtomicU64,
    /// Bytes in the live segments.
    pub log_bytes: AtomicU64,
    /// Events replayed from the log at start-up.
    pub replayed: AtomicU64,
}

/// The popularity model's count deltas: new (user, item) pairs per item since training.
#[derive(Default)]
pub struct PopularityDelta {
    inner: RwLock<DeltaList>,
}

#[derive(Default)]
struct DeltaList {
    at: HashMap<u32, usize>,
    list: Vec<(u32, f32)>,
}

impl PopularityDelta {
    fn add(&self, item: u32) {
        let mut d = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match d.at.get(&item) {
            Some(&k) => d.list[k].1 += 1.0,
            None => {
                let k = d.list.len();
                d.at.insert(item, k);
                d.list.push((item, 1.0));
            }
        }
    }

    fn clear(&self) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = DeltaList::default();
    }

    /// Runs `f` on the (item, new users) list; empty when nothing changed.
    pub fn with<T>(&self, f: impl FnOnce(&[(u32, f32)]) -> T) -> T {
        f(&self.inner.read().unwrap_or_else(|e| e.into_inner()).list)
    }

    /// True when some count changed.
    pub fn is_empty(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .is_empty()
    }
}

/// A served model as the live layer sees it.
pub struct LiveModel<'a> {
    /// The model.
    pub rec: &'a Recommender,
    /// Its `training.events_through`.
    pub through: u64,
    /// Its popularity deltas (used by the popularity kind only).
    pub popularity: &'a PopularityDelta,
}

/// The live events of a server (`--events-dir`).
pub struct Live {
    shards: Box<[RwLock<UserEvents>]>,
    users: AtomicUsize,
    jobs: OnceLock<Mutex<Sender<Job>>>,
    /// Held while events are applied and while a new model set is prepared, so each event is
    /// counted by exactly one of them.
    pub apply_lock: Mutex<()>,
    /// Counters.
    pub metrics: EventMetrics,
}

fn shard_of(user: &str) -> usize {
    let mut h = DefaultHasher::new();
    user.hash(&mut h);
    (h.finish() as usize) % SHARDS
}

/// The `training.events_through` of a model (0 when absent).
pub fn events_through(rec: &Recommender) -> u64 {
    rec.training()
        .get("events_through")
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

impl Default for Live {
    fn default() -> Self {
        Live {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            users: AtomicUsize::new(0),
            jobs: OnceLock::new(),
            apply_lock: Mutex::new(()),
            metrics: EventMetrics::default(),
        }
    }
}

impl Live {
    /// Users with live events.
    pub fn users(&self) -> usize {
        self.users.load(Relaxed)
    }

    /// Records `records` (in sequence order) for their users and counts new (user, item)
    /// pairs in the popularity models. Call with `apply_lock` held.
    pub fn apply<'a>(&self, records: &[Record], models: impl Iterator<Item = LiveModel<'a>> + Clone) {
        for r in records {
            let e = &r.event;
            let mut shard = self.shards[shard_of(&e.user)]
                .write()
                .unwrap_or_else(|p| p.into_inner());
            let user = match shard.get_mut(e.user.as_str()) {
                Some(user) => user,
                None => {
                    self.users.fetch_add(1, Relaxed);
                    shard.entry(e.user.as_str().into()).or_default()
                }
            };
            for m in models.clone() {
                count_popularity(&m, &e.user, &e.item, r.seq, &user.events);
            }
            user.events.push(LiveEvent {
                item: e.item.as_str().into(),
                weight: e.weight,
                seq: r.seq,
            });
            user.version += 1;
            user.memo.get_mut().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// Prepares a new model set: drops events every model already contains and recounts the
    /// popularity deltas of `models`. Call with `apply_lock` held, before the set is served.
    pub fn rebase<'a>(&self, models: impl Iterator<Item = LiveModel<'a>> + Clone) {
        let contained = models.clone().map(|m| m.through).min().unwrap_or(0);
        for m in models.clone() {
            m.popularity.clear();
        }
        for shard in self.shards.iter() {
            let mut shard = shard.write().unwrap_or_else(|p| p.into_inner());
            shard.retain(|_, user| {
                user.events.retain(|e| e.seq > contained);
                // Memos belong to the old models' generations: drop them with those models.
                user.memo.get_mut().unwrap_or_else(|p| p.into_inner()).clear();
                if user.events.is_empty() {
                    self.users.fetch_sub(1, Relaxed);
                }
                !user.events.is_empty()
            });
            for (id, user) in shard.iter() {
                for m in models.clone().filter(|m| m.rec.kind() == ModelKind::Popularity) {
                    for k in 0..user.events.len() {
                        let (before, rest) = user.events.split_at(k);
                        count_popularity(&m, id, &rest[0].item, rest[0].seq, before);
                    }
                }
            }
        }
    }

    /// What the live state holds for `user` and the model `m` (of generation `generation`):
    /// nothing newer than the model, a memoized list of at least `n` items, or the events to
    /// compute from. Users without events cost one atomic load (no user has any) or one
    /// hash lookup under a shard's read lock.
    pub fn lookup(&self, user: &str, m: &LiveModel<'_>, generation: u64, n: usize) -> Lookup {
        if self.users.load(Relaxed) == 0 {
            return Lookup::Nothing;
        }
        let shard = self.shards[shard_of(user)]
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let Some(live) = shard.get(user) else {
            return Lookup::Nothing;
        };
        // A memo exists only for a history with events the model lacks (see `memoize`).
        let memo = live.memo.lock().unwrap_or_else(|p| p.into_inner());
        let hit = memo
            .iter()
            .find(|x| x.generation == generation && x.version == live.version && x.items.len() >= n);
        if let Some(x) = hit {
            return Lookup::Memo(x.items[..n].into());
        }
        drop(memo);
        let items: Vec<(u32, f32)> = live
            .events
            .iter()
            .filter(|e| e.seq > m.through)
            .filter_map(|e| m.rec.items().index_of(&e.item).map(|i| (i, e.weight)))
            .collect();
        if items.is_empty() {
            return Lookup::Nothing;
        }
        Lookup::Compute {
            items,
            version: live.version,
        }
    }

    /// Keeps `items` (computed for event version `version` of `user` with the model of
    /// `generation`) for the user's next requests; ignored when an event arrived meanwhile.
    pub fn memoize(&self, user: &str, generation: u64, version: u64, items: &[RecommendedItem]) {
        let shard = self.shards[shard_of(user)]
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let Some(live) = shard.get(user).filter(|l| l.version == version) else {
            return;
        };
        let mut memo = live.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.retain(|x| x.generation != generation);
        memo.push(Memo {
            generation,
            version,
            items: items.into(),
        });
    }

    /// Starts the writer thread over `log`; `apply` runs on each durable batch before it is
    /// acknowledged.
    pub fn start_writer(
        self: &Arc<Self>,
        log: EventLog,
        apply: impl Fn(&[Record]) + Send + 'static,
    ) -> std::io::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.metrics.log_bytes.store(log.live_bytes(), Relaxed);
        let live = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("reco-events".into())
            .spawn(move || writer(log, rx, apply, live))?;
        let _ = self.jobs.set(Mutex::new(tx));
        Ok(())
    }

    fn send(&self, job: Job) -> bool {
        self.jobs
            .get()
            .map(|tx| tx.lock().unwrap_or_else(|p| p.into_inner()).send(job).is_ok())
            .unwrap_or(false)
    }

    /// Makes `events` durable and live; returns their first and last sequence numbers.
    pub async fn append(&self, events: Vec<Event>) -> Result<(u64, u64), String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.send(Job::Append(events, tx)) {
            return Err("the event writer is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the event writer stopped".into()))
    }

    /// Closes the current segment; returns the last durable sequence number.
    pub async fn rotate(&self) -> Result<u64, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.send(Job::Rotate(tx)) {
            return Err("the event writer is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the event writer stopped".into()))
    }

    /// Moves the segments fully contained in `through` to the archive.
    pub async fn archive_through(&self, through: u64) -> Result<usize, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.send(Job::Archive(through, tx)) {
            return Err("the event writer is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the event writer stopped".into()))
    }
}

/// Counts `item` as a new user of the popularity model `m` unless `user` had it in training
/// or in an earlier live event the model does not contain (`earlier`).
fn count_popularity(m: &LiveModel<'_>, user: &str, item: &str, seq: u64, earlier: &[LiveEvent]) {
    if m.rec.kind() != ModelKind::Popularity || seq <= m.through {
        return;
    }
    let Some(i) = m.rec.items().index_of(item) else {
        return;
    };
    let in_training = m
        .rec
        .users()
        .index_of(user)
        .is_some_and(|u| m.rec.seen_items(u).binary_search(&i).is_ok());
    let before = earlier.iter().any(|e| e.seq > m.through && *e.item == *item);
    if !in_training && !before {
        m.popularity.add(i);
    }
}

fn writer(mut log: EventLog, rx: Receiver<Job>, apply: impl Fn(&[Record]), live: std::sync::Weak<Live>) {
    while let Ok(first) = rx.recv() {
        // Everything queued while the previous sync ran goes into this one (group commit).
        let mut appends = Vec::new();
        let mut others = Vec::new();
        let mut n_events = 0;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Append(events, tx) => {
                    n_events += events.len();
                    appends.push((events, tx));
                }
                other => others.push(other),
            }
            if n_events < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        if !appends.is_empty() {
            let counts: Vec<usize> = appends.iter().map(|(e, _)| e.len()).collect();
            let (events, replies): (Vec<Vec<Event>>, Vec<_>) = appends.into_iter().unzip();
            match log.append(events.into_iter().flatten().collect()) {
                Ok(records) => {
                    apply(&records);
                    let mut at = 0;
                    for (n, tx) in counts.into_iter().zip(replies) {
                        let range = match records.get(at..at + n) {
                            Some([first, .., last]) => (first.seq, last.seq),
                            Some([one]) => (one.seq, one.seq),
                            _ => (0, 0),
                        };
                        at += n;
                        let _ = tx.send(Ok(range));
                    }
                    if let Some(live) = live.upgrade() {
                        live.metrics.commits.fetch_add(1, Relaxed);
                        live.metrics.accepted.fetch_add(records.len() as u64, Relaxed);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot write the event log; the batch was refused");
                    if let Some(live) = live.upgrade() {
                        live.metrics
                            .rejected
                            .fetch_add(counts.iter().sum::<usize>() as u64, Relaxed);
                    }
                    for tx in replies {
                        let _ = tx.send(Err("the event log cannot be written".into()));
                    }
                }
            }
        }
        for job in others {
            match job {
                Job::Rotate(tx) => {
                    let _ = tx.send(log.rotate().map_err(|e| e.to_string()));
                }
                Job::Archive(through, tx) => {
                    let _ = tx.send(log.archive_through(through).map_err(|e| e.to_string()));
                }
                Job::Append(..) => {}
            }
        }
        if let Some(live) = live.upgrade() {
            live.metrics.log_bytes.store(log.live_bytes(), Relaxed);
        }
    }
}
