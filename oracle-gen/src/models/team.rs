//! A persistent team of threads for the decode step's many short parallel loops:
//! workers spin between jobs instead of sleeping, so handing out a matrix-vector
//! product costs an atomic store, not a wake-up of a sleeping thread (rayon's
//! workers fall asleep between the ~200 products of one token, and every wake-up
//! is a futex call, an inter-processor interrupt on a virtual machine).
//!
//! A worker spins for [`SPIN`] after its last task, yielding its core now and then
//! so that other runnable threads are not starved, then parks on a condition
//! variable until the next job. Which thread runs which task never changes a
//! result: every task writes its own outputs.

use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks.
const SPIN: Duration = Duration::from_millis(4);

/// The ticket packs a job's generation (high 24 bits), its task count (20 bits)
/// and the next unclaimed task (low 20 bits): a worker claims a task with one
/// compare-and-swap that also proves the job is still the current one.
const IDX_BITS: u32 = 20;
const IDX_MASK: u64 = (1 << IDX_BITS) - 1;
/// The most tasks one job may have.
pub const MAX_TASKS: usize = IDX_MASK as usize;

fn pack(generation: u64, tasks: u64, next: u64) -> u64 {
    (generation << (2 * IDX_BITS)) | (tasks << IDX_BITS) | next
}

fn unpack(ticket: u64) -> (u64, u64, u64) {
    (ticket >> (2 * IDX_BITS), (ticket >> IDX_BITS) & IDX_MASK, ticket & IDX_MASK)
}

type Job<'a> = &'a (dyn Fn(usize) + Sync + 'a);

struct Shared {
    ticket: AtomicU64,
    /// Points at the current job's `Job` (a fat reference on the caller's stack);
    /// written before the ticket is published, read only after a task is claimed,
    /// and the caller does not return before every claimed task is done.
    job: AtomicPtr<Job<'static>>,
    done: AtomicUsize,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

/// The team: `threads - 1` workers plus the calling thread.
pub struct Team {
    shared: &'static Shared,
    threads: usize,
    /// One job at a time: `run` from two threads at once would mix their tickets.
    busy: Mutex<()>,
}

impl Team {
    /// A team of `threads` (the caller included).
    pub fn new(threads: usize) -> Team {
        let threads = threads.max(1);
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            ticket: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }));
        for i in 1..threads {
            std::thread::Builder::new()
                .name(format!("oracle-team-{i}"))
                .spawn(move || worker(shared))
                .expect("oracle-gen: cannot start a decode worker thread");
        }
        Team { shared, threads, busy: Mutex::new(()) }
    }

    /// The process-wide team, as many threads as candle uses (`--threads`, else
    /// RAYON_NUM_THREADS, else the physical cores).
    pub fn global() -> &'static Team {
        static TEAM: OnceLock<Team> = OnceLock::new();
        TEAM.get_or_init(|| Team::new(candle_core::utils::get_num_threads()))
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `task(i)` for every i in 0..tasks, on the team and the calling thread,
    /// and returns when all are done. A task that panics aborts the process (a
    /// worker cannot hand a panic back).
    pub fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        assert!(tasks <= MAX_TASKS, "team: {tasks} tasks, at most {MAX_TASKS}");
        if tasks == 0 {
            return;
        }
        if self.threads == 1 || tasks == 1 {
            (0..tasks).for_each(task);
            return;
        }
        let _one_at_a_time = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let s = self.shared;
        let job: Job<'_> = task;
        // SAFETY: only the lifetime is erased; the pointer is dereferenced by tasks
        // claimed in this generation, and this function waits for all of them.
        let job_ptr = &job as *const Job<'_> as *mut Job<'static>;
        s.job.store(job_ptr, SeqCst);
        s.done.store(0, SeqCst);
        let (generation, _, _) = unpack(s.ticket.load(SeqCst));
        let generation = (generation + 1) & ((1 << (64 - 2 * IDX_BITS)) - 1);
        s.ticket.store(pack(generation, tasks as u64, 0), SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        while let Some(i) = claim(s) {
            run_or_abort(|| task(i));
            s.done.fetch_add(1, SeqCst);
        }
        while s.done.load(SeqCst) < tasks {
            std::hint::spin_loop();
        }
        // No claim can succeed any more (next == tasks), so no worker reads the job.
        s.job.store(std::ptr::null_mut(), SeqCst);
    }
}

/// A task that panics would leave the others waiting for it forever (a worker) or
/// free the job under them (the caller): print the panic's message and abort.
fn run_or_abort(f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        eprintln!("oracle-gen: a decode task panicked (message above); aborting");
        std::process::abort();
    }
}

/// Claims the next task of the current job, if one is left.
fn claim(s: &Shared) -> Option<usize> {
    let mut t = s.ticket.load(SeqCst);
    loop {
        let (_, tasks, next) = unpack(t);
        if next >= tasks {
            return None;
        }
        match s.ticket.compare_exchange_weak(t, t + 1, SeqCst, SeqCst) {
            Ok(_) => return Some(next as usize),
            Err(now) => t = now,
        }
    }
}

fn worker(s: &'static Shared) {
    loop {
        let mut idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            if let Some(i) = claim(s) {
                // SAFETY: a claimed task keeps `run` waiting, so the job it points at lives.
                let job = unsafe { &*s.job.load(SeqCst) };
                run_or_abort(|| job(i));
                s.done.fetch_add(1, SeqCst);
                idle_since = Instant::now();
                spins = 0;
                continue;
            }
            spins += 1;
            if spins.is_multiple_of(64) {
                if idle_since.elapsed() > SPIN {
                    break;
                }
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        // Park until a job with unclaimed tasks is published.
        let mut g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
        s.sleepers.fetch_add(1, SeqCst);
        loop {
            let (_, tasks, next) = unpack(s.ticket.load(SeqCst));
            if next < tasks {
                break;
            }
            g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        s.sleepers.fetch_sub(1, SeqCst);
        drop(g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_task_runs_exactly_once_across_many_jobs() {
        let team = Team::new(3);
        for tasks in [1usize, 2, 3, 7, 64, 1000] {
            for _ in 0..50 {
                let hits: Vec<AtomicU32> = (0..tasks).map(|_| AtomicU32::new(0)).collect();
                team.run(tasks, &|i| {
                    hits[i].fetch_add(1, SeqCst);
                });
                assert!(
                    hits.iter().all(|h| h.load(SeqCst) == 1),
                    "{tasks} tasks: {:?}",
                    hits.iter().map(|h| h.load(SeqCst)).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn parked_workers_wake_for_the_next_job() {
        let team = Team::new(2);
        let sum = AtomicUsize::new(0);
        team.run(4, &|i| {
            sum.fetch_add(i, SeqCst);
        });
        std::thread::sleep(SPIN * 3); // the worker parks
        team.run(100, &|i| {
            sum.fetch_add(i, SeqCst);
        });
        assert_eq!(sum.load(SeqCst), 6 + 4950);
    }

    #[test]
    fn a_single_thread_team_runs_inline() {
        let team = Team::new(1);
        let order = Mutex::new(Vec::new());
        team.run(5, &|i| order.lock().unwrap().push(i));
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }
}
