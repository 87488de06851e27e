//! One thread's CPU time, read from `/proc/<pid>/task/<tid>/` (Linux).
//!
//! User and system time come from `stat`: the same figures
//! `getrusage(RUSAGE_THREAD)` gives, without `unsafe` code or a `libc`
//! dependency, and readable from another thread, so the measuring does
//! not run on the measured thread. They come in clock ticks of 10 ms
//! (`USER_HZ` is 100 in Linux's ABI on every mainstream architecture).
//! `getrusage` is no finer in truth: unless the kernel has
//! `CONFIG_VIRT_CPU_ACCOUNTING_GEN` (this machine's has not), it splits
//! a thread's exact run time into user and system time by the share of
//! timer ticks (`CONFIG_HZ`, 250 here) that found the thread in each —
//! a sample, whose noise shrinks with the number of ticks, hence rounds
//! of seconds with the server kept busy. The exact total on-CPU time,
//! in nanoseconds, comes from `schedstat`, as a cross-check.

use std::path::PathBuf;
use std::time::Duration;

/// The length of a clock tick in `/proc` (`USER_HZ` = 100).
const TICK: Duration = Duration::from_millis(10);

/// Where to read one thread's CPU times.
#[derive(Debug, Clone)]
pub(crate) struct ThreadCpu {
    task: PathBuf,
}

/// CPU time a thread has used since it started.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuTime {
    /// User time, sampled by timer ticks.
    pub(crate) user: Duration,
    /// System time, sampled by timer ticks.
    pub(crate) system: Duration,
    /// Time on a CPU, user and system together: exact.
    pub(crate) on_cpu: Duration,
}

impl ThreadCpu {
    /// The calling thread.
    pub(crate) fn current() -> ThreadCpu {
        // `/proc/thread-self` links to `<pid>/task/<tid>`: a path that
        // still names this thread when another thread reads it.
        let task = std::fs::read_link("/proc/thread-self")
            .expect("/proc/thread-self: this bench measures CPU time on Linux only");
        ThreadCpu {
            task: PathBuf::from("/proc").join(task),
        }
    }

    /// The thread's CPU time so far.
    pub(crate) fn read(&self) -> CpuTime {
        let read = |file| {
            std::fs::read_to_string(self.task.join(file)).expect("the measured thread is alive")
        };
        let stat = read("stat");
        // The command name (field 2) is in parentheses and may contain
        // spaces; count fields from the last `)`. After it come field 3
        // (state) onwards; utime and stime are fields 14 and 15.
        let after_name = &stat[stat.rfind(')').expect("a stat line") + 1..];
        let mut fields = after_name.split_whitespace().skip(14 - 3);
        let mut ticks = || -> u32 {
            fields
                .next()
                .and_then(|field| field.parse().ok())
                .expect("utime and stime fields")
        };
        let user = ticks();
        let system = ticks();
        // schedstat: nanoseconds on a CPU, waiting for one, time slices.
        let on_cpu_ns = read("schedstat")
            .split_whitespace()
            .next()
            .and_then(|field| field.parse().ok())
            .expect("a schedstat line");
        CpuTime {
            user: TICK * user,
            system: TICK * system,
            on_cpu: Duration::from_nanos(on_cpu_ns),
        }
    }
}

impl std::ops::Sub for CpuTime {
    type Output = CpuTime;

    fn sub(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            on_cpu: self.on_cpu.saturating_sub(earlier.on_cpu),
        }
    }
}
