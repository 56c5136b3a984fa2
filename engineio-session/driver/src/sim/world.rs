//! The simulated world: its virtual clock, its hosts, its timers and its tasks.

use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use super::faults::{FaultLog, Faults};
use super::net::Net;
use super::rng::SimRng;
use super::trace::Trace;

/// A host's index in the world.
pub(crate) type HostId = usize;

/// A spawned task's future.
type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where a sleeping future's waker waits for its timer.
pub(crate) type TimerSlot = Mutex<Option<Waker>>;

/// The world's shared state. The executor's loop, the runtime handles, the streams and the
/// timers all reach it through one `Arc`.
pub(crate) struct World {
    pub(crate) state: Mutex<State>,
    tasks: Mutex<Tasks>,
    ready: Mutex<Ready>,
    /// The real instant virtual time 0 stands for (instants are opaque; only offsets from
    /// this are ever compared or traced).
    pub(crate) base: Instant,
}

/// Everything but the tasks.
pub(crate) struct State {
    /// Virtual time since `base`, as the network and the fault injector count it.
    pub(crate) now: Duration,
    pub(crate) hosts: Vec<Host>,
    pub(crate) rng: SimRng,
    pub(crate) trace: Trace,
    pub(crate) net: Net,
    pub(crate) faults: Faults,
    pub(crate) fault_log: FaultLog,
    timers: BinaryHeap<Timer>,
    next_timer: u64,
}

/// A simulated machine: a name, and a clock that may run ahead of the world's.
pub(crate) struct Host {
    pub(crate) name: String,
    /// How far this host's clock has jumped ahead of the world's.
    pub(crate) ahead: Duration,
}

/// A timer: wake `slot` when the world's clock reaches `at`.
struct Timer {
    at: Duration,
    seq: u64,
    /// The host whose clock set it (a jump of that clock brings it forward), or `None` for
    /// the network's own deliveries, which follow the world's clock.
    host: Option<HostId>,
    slot: Weak<TimerSlot>,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    /// Reversed: the heap pops the earliest first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl State {
    /// `host`'s clock, as an offset from `base`.
    pub(crate) fn host_now(&self, host: HostId) -> Duration {
        self.now + self.hosts[host].ahead
    }

    /// Records a trace event at the current virtual time.
    pub(crate) fn trace(&mut self, event: std::fmt::Arguments<'_>) {
        let now = self.now;
        self.trace.record(now, event);
    }

    /// Wakes `slot` once `host`'s clock reaches `at` (a host-local offset from `base`), or
    /// once the world's clock reaches `at` when `host` is `None`.
    pub(crate) fn add_timer(&mut self, host: Option<HostId>, at: Duration, slot: &Arc<TimerSlot>) {
        let at = match host {
            Some(h) => at.saturating_sub(self.hosts[h].ahead),
            None => at,
        };
        self.next_timer += 1;
        self.timers.push(Timer {
            at: at.max(self.now),
            seq: self.next_timer,
            host,
            slot: Arc::downgrade(slot),
        });
    }

    /// Jumps `host`'s clock forward by `by`: its timers come due that much sooner.
    pub(crate) fn jump(&mut self, host: HostId, by: Duration) {
        self.hosts[host].ahead += by;
        let now = self.now;
        let timers = std::mem::take(&mut self.timers).into_vec();
        self.timers = timers
            .into_iter()
            .filter(|t| t.slot.strong_count() > 0)
            .map(|mut t| {
                if t.host == Some(host) {
                    t.at = t.at.saturating_sub(by).max(now);
                }
                t
            })
            .collect();
    }

    /// When the next live timer is due.
    fn next_due(&mut self) -> Option<Duration> {
        while let Some(t) = self.timers.peek() {
            if t.slot.strong_count() > 0 {
                return Some(t.at);
            }
            self.timers.pop();
        }
        None
    }

    /// Takes the wakers of every timer due by now.
    fn due_wakers(&mut self, out: &mut Vec<Waker>) {
        while self.timers.peek().is_some_and(|t| t.at <= self.now) {
            let Some(t) = self.timers.pop() else { break };
            if let Some(slot) = t.slot.upgrade() {
                if let Some(w) = lock(&slot).take() {
                    out.push(w);
                }
            }
        }
    }
}

/// The tasks, in slots (a free slot is `None` and listed in `free`); a running task's
/// future is out of its slot while it is polled.
#[derive(Default)]
struct Tasks {
    slots: Vec<Option<TaskSlot>>,
    free: Vec<usize>,
}

struct TaskSlot {
    future: Option<BoxFuture>,
    host: HostId,
    waker: Waker,
}

/// The tasks woken and not yet polled, without repeats.
#[derive(Default)]
struct Ready {
    ids: Vec<usize>,
    queued: Vec<bool>,
}

impl Ready {
    fn push(&mut self, id: usize) {
        if self.queued.len() <= id {
            self.queued.resize(id + 1, false);
        }
        if !self.queued[id] {
            self.queued[id] = true;
            self.ids.push(id);
        }
    }
}

/// Wakes a task by queueing its id.
struct TaskWaker {
    world: Weak<World>,
    id: usize,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(world) = self.world.upgrade() {
            lock(&world.ready).push(self.id);
        }
    }
}

pub(crate) use crate::lock;

/// Why the executor stopped.
pub(crate) enum Stop {
    /// The main task finished.
    Done,
    /// Nothing can run and no timer is set: the main task waits for what cannot happen.
    Stalled,
    /// Virtual time reached the limit.
    TimeLimit,
}

thread_local! {
    /// The host of the task being polled, for `SimRuntime::default()`.
    static CURRENT: std::cell::RefCell<Option<(Arc<World>, HostId)>> =
        const { std::cell::RefCell::new(None) };
}

/// Sets [`CURRENT`] for one poll; restores it when dropped, a panic's unwinding included.
struct Current(Option<(Arc<World>, HostId)>);

impl Current {
    fn enter(world: Arc<World>, host: HostId) -> Current {
        Current(CURRENT.with(|c| c.replace(Some((world, host)))))
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// The host of the task being polled on this thread, if a simulation is running here.
pub(crate) fn current() -> Option<(Arc<World>, HostId)> {
    CURRENT.with(|c| c.borrow().clone())
}

impl World {
    pub(crate) fn new(seed: u64, faults: Faults) -> Arc<World> {
        Arc::new(World {
            state: Mutex::new(State {
                now: Duration::ZERO,
                hosts: Vec::new(),
                rng: SimRng::new(seed),
                trace: Trace::default(),
                net: Net::default(),
                faults,
                fault_log: FaultLog::default(),
                timers: BinaryHeap::new(),
                next_timer: 0,
            }),
            tasks: Mutex::default(),
            ready: Mutex::default(),
            base: Instant::now(),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Adds a host named `name` (names are unique: an existing one is returned).
    pub(crate) fn host(&self, name: &str) -> HostId {
        let mut st = self.state();
        if let Some(i) = st.hosts.iter().position(|h| h.name == name) {
            return i;
        }
        st.hosts.push(Host {
            name: name.to_owned(),
            ahead: Duration::ZERO,
        });
        st.hosts.len() - 1
    }

    /// Queues `future` to run on `host`; returns its task id.
    pub(crate) fn spawn(self: &Arc<Self>, host: HostId, future: BoxFuture) -> usize {
        let mut tasks = lock(&self.tasks);
        let id = match tasks.free.pop() {
            Some(id) => id,
            None => {
                tasks.slots.push(None);
                tasks.slots.len() - 1
            }
        };
        let waker = Waker::from(Arc::new(TaskWaker {
            world: Arc::downgrade(self),
            id,
        }));
        tasks.slots[id] = Some(TaskSlot {
            future: Some(future),
            host,
            waker,
        });
        drop(tasks);
        lock(&self.ready).push(id);
        id
    }

    /// Runs tasks until task `main` finishes, nothing can happen any more, or the world's
    /// clock passes `limit`.
    pub(crate) fn run(self: &Arc<Self>, main: usize, limit: Duration) -> Stop {
        let mut wakers = Vec::new();
        loop {
            // One ready task, chosen by the seed: interleavings differ from seed to seed.
            // (The queue's lock is never held while the state's is taken.)
            let queued = lock(&self.ready).ids.len();
            let next = (queued > 0).then(|| {
                let i = self.state().rng.below(queued);
                let mut ready = lock(&self.ready);
                let id = ready.ids.swap_remove(i);
                ready.queued[id] = false;
                id
            });
            if let Some(id) = next {
                if self.poll_task(id) && id == main {
                    return Stop::Done;
                }
                continue;
            }
            // Nothing to run: move the clock to the next timer or fault.
            let mut st = self.state();
            let timer = st.next_due();
            let fault = st.next_fault_at();
            let Some(at) = [timer, fault].into_iter().flatten().min() else {
                return Stop::Stalled;
            };
            if at > limit {
                st.now = limit;
                return Stop::TimeLimit;
            }
            st.now = st.now.max(at);
            if fault.is_some_and(|f| f <= st.now) {
                st.inject_fault(&mut wakers);
            }
            st.due_wakers(&mut wakers);
            drop(st);
            for w in wakers.drain(..) {
                w.wake();
            }
        }
    }

    /// Polls task `id` once; true if it finished.
    fn poll_task(self: &Arc<Self>, id: usize) -> bool {
        let (mut future, host, waker) = {
            let mut tasks = lock(&self.tasks);
            let Some(Some(slot)) = tasks.slots.get_mut(id) else {
                return false;
            };
            let Some(future) = slot.future.take() else {
                return false;
            };
            (future, slot.host, slot.waker.clone())
        };
        let done = {
            let _current = Current::enter(self.clone(), host);
            future
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
        };
        let mut tasks = lock(&self.tasks);
        if done {
            tasks.slots[id] = None;
            tasks.free.push(id);
            drop(tasks);
            self.state().trace(format_args!("task {id} ended"));
            // The future is dropped here, outside every lock: dropping it may wake others.
            drop(future);
        } else if let Some(slot) = tasks.slots[id].as_mut() {
            slot.future = Some(future);
        }
        done
    }

    /// Drops every task of `host` but the one being polled (outside the locks), as a crash
    /// of that machine would; how many.
    pub(crate) fn kill_tasks(&self, host: HostId) -> usize {
        let futures: Vec<BoxFuture> = {
            let mut tasks = lock(&self.tasks);
            let mut killed = Vec::new();
            for id in 0..tasks.slots.len() {
                let hit = tasks.slots[id]
                    .as_ref()
                    .is_some_and(|t| t.host == host && t.future.is_some());
                if hit {
                    killed.extend(tasks.slots[id].take().and_then(|t| t.future));
                    tasks.free.push(id);
                }
            }
            killed
        };
        let n = futures.len();
        drop(futures);
        n
    }

    /// How many tasks have not finished.
    pub(crate) fn live_tasks(&self) -> usize {
        let tasks = lock(&self.tasks);
        tasks.slots.len() - tasks.free.len()
    }

    /// Drops every task left (outside the locks; their drops may wake or spawn others, which
    /// are dropped in turn).
    pub(crate) fn teardown(&self) {
        loop {
            let futures: Vec<BoxFuture> = {
                let mut tasks = lock(&self.tasks);
                let futures = tasks
                    .slots
                    .iter_mut()
                    .filter_map(|s| s.take().and_then(|s| s.future))
                    .collect();
                tasks.free.clear();
                tasks.slots.clear();
                futures
            };
            if futures.is_empty() {
                break;
            }
            drop(futures);
        }
        lock(&self.ready).ids.clear();
        self.state().timers.clear();
    }
}
