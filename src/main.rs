//! Entry point: arguments → configuration → batch run (or the TUI) → exit code.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use convoy::batch::{self, BatchOptions};
use convoy::cli::Args;
use convoy::error::InputError;
use convoy::exit::ExitCode;
use convoy::log::RunLog;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(shell) = args.completions {
        convoy::cli::completions(shell, &mut std::io::stdout());
        return ExitCode::Success.into();
    }
    if args.man_page {
        return match convoy::cli::man_page(&mut std::io::stdout()) {
            Ok(()) => ExitCode::Success.into(),
            Err(e) => {
                eprintln!("convoy: write error: standard output: {e}");
                ExitCode::Partial.into()
            }
        };
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    // Ctrl-C, a kill and a closed terminal all stop the copy cleanly: in-flight
    // files are abandoned and their temporaries removed.
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        // A second signal ends the process at once (the next run sweeps its temporaries).
        let _ =
            signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&interrupted));
        let _ = signal_hook::flag::register(sig, Arc::clone(&interrupted));
    }
    if args.compare {
        return compare(&args).into();
    }
    if !args.batch {
        return match convoy::tui::run(&args, &interrupted) {
            Ok(code) => code.into(),
            Err(e) => {
                eprintln!("convoy: {e}");
                ExitCode::Usage.into()
            }
        };
    }
    quiet_engine_panics();
    let log = match open_log(&args) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("convoy: {e}");
            return ExitCode::Usage.into();
        }
    };
    let configs = match args.batch_configs() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("convoy: {e}");
            return ExitCode::Usage.into();
        }
    };
    let (mut log, of) = (log, configs.len());
    let mut code = ExitCode::Success;
    for (i, config) in configs.into_iter().enumerate() {
        // Interrupted: the copies after this one do not start.
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("convoy: interrupted; {} more copies not started", of - i);
            return code.worst(ExitCode::Interrupted).into();
        }
        let opts = BatchOptions {
            json: args.json,
            quiet: args.quiet,
            dry_run: config.dry_run,
        };
        if of > 1 {
            batch::announce(&opts, &mut log, (i + 1, of), &config);
        }
        let done = match convoy::engine::start(config) {
            Ok(running) => batch::run(running, opts, &mut log, &interrupted),
            Err(e) => {
                eprintln!("convoy: {e}");
                e.exit_code()
            }
        };
        code = code.worst(done);
    }
    code.into()
}

/// `--compare SOURCE DEST`: read-only, with or without `--batch` (there is
/// nothing to watch).
fn compare(args: &Args) -> ExitCode {
    let (Some(source), Some(dest), 2) = (args.source(), args.dest(), args.paths.len()) else {
        eprintln!("convoy: --compare takes a SOURCE folder and a DEST folder");
        return ExitCode::Usage;
    };
    let mut cmp = convoy::Compare::new(source, dest).checksum(args.checksum);
    if let Some(j) = args.jobs {
        cmp = cmp.jobs(usize::from(j));
    }
    // The same globs a copy with these options leaves out.
    match args.base_config(convoy::cli::Face::Batch) {
        Ok(base) => {
            for g in base.excludes {
                cmp = cmp.exclude(g);
            }
        }
        Err(e) => {
            eprintln!("convoy: {e}");
            return ExitCode::Usage;
        }
    }
    batch::compare::run(cmp, args.json, args.quiet)
}

/// The `--log` file, opened before anything is copied: one that cannot be
/// written is bad input.
fn open_log(args: &Args) -> Result<Option<RunLog>, InputError> {
    args.log.as_deref().map(RunLog::open).transpose()
}

/// The engine catches its threads' panics and stops the run with a message
/// that says where and why; the default hook's backtrace note on stderr would
/// only interleave with the reporter's lines.
fn quiet_engine_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let engine = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with(convoy::engine::THREAD_PREFIX));
        if !engine {
            previous(info);
        }
    }));
}
