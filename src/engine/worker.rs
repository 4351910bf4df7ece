//! One worker loop: pass the gate, take a job, copy it, report every entry.

use crossbeam_channel::Receiver;

use crate::engine::copy::copier::Copier;
use crate::engine::copy::job::Job;
use crate::engine::copy::pair::Writes;
use crate::engine::read::Source;
use crate::engine::shared::Shared;
use crate::event::WorkerId;

/// Gives the gate's permit back when the worker lets go of it, also when it
/// unwinds from a panic (the other workers would otherwise wait for it forever).
struct Permit<'a>(&'a crate::engine::control::handle::Control);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A worker loop. A panic (a bug) stops the run with a message instead of
/// hanging it: the partial file of the panicking worker is removed as its
/// guards unwind, the others finish their entry and stop.
pub(crate) fn run<S: Source, D: Writes<S>>(
    id: WorkerId,
    shared: &Shared<S, D>,
    jobs: Receiver<Job>,
) {
    let worked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(id, shared, jobs)));
    if let Err(panic) = worked {
        shared.thread_died(format!("worker {id}"), &*panic);
    }
}

fn work<S: Source, D: Writes<S>>(id: WorkerId, shared: &Shared<S, D>, jobs: Receiver<Job>) {
    let mut c = Copier::new(Some(id), shared);
    let _taker = shared.backlog.taker();
    while shared.control.enter().is_ok() {
        let _permit = Permit(&shared.control);
        loop {
            // Files waiting to be read back (--verify) are, before waiting.
            let job = match jobs.try_recv() {
                Ok(job) => Ok(job),
                Err(_) => {
                    D::catch_up(&mut c);
                    jobs.recv()
                }
            };
            let Ok(job) = job else {
                return;
            };
            shared.backlog.release(job.weight());
            D::job(&mut c, job);
            if shared.control.must_yield() {
                D::catch_up(&mut c);
                break;
            }
        }
    }
    D::catch_up(&mut c);
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::engine::copy::files::PANIC_NAME;

    #[test]
    fn a_panicking_worker_stops_the_run_instead_of_hanging_it() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        for d in 0..10 {
            std::fs::create_dir_all(src.join(d.to_string())).unwrap();
            for f in 0..50 {
                std::fs::write(src.join(format!("{d}/{f}")), b"data").unwrap();
            }
        }
        std::fs::write(src.join("5").join(PANIC_NAME), b"boom").unwrap();
        let mut cfg = Config::new(&src, t.path().join("dst"));
        cfg.jobs = 2;
        let (fatal, cancelled) = crate::engine::run::run_to_end(cfg);
        assert!(cancelled, "the run is stopped");
        let why = fatal.expect("a fatal event says why the run stopped");
        assert!(why.contains("internal error"), "{why}");
        assert!(
            !t.path().join("dst/5").join(PANIC_NAME).exists(),
            "nothing half-written under the file's name"
        );
    }
}
