//! The WASI environment a close step runs in. A plain Rust `wasm32-wasip2` guest imports the WASI
//! CLI, clock, filesystem, I/O and random interfaces even when it never uses them, so they are
//! linked, but each one gives nothing real away: no environment, no arguments, no preopened
//! directories, an empty stdin, stdout and stderr captured into the step log, clocks pinned to
//! the close's as-of time, and randomness drawn from a seed the caller derives from the run. Two
//! runs with the same inputs therefore see exactly the same world. HTTP is not linked at all: a
//! guest that imports it is refused before it is instantiated. Sockets are not linked either,
//! but a component that imports them still loads with every socket function replaced by a trap
//! (see [`stub_socket_imports`]): CPython built by componentize-py imports them whether or not
//! the step uses the network, so refusing the import would refuse every Python close step.

use chacha20::ChaCha20Rng;
use chacha20::rand_core::SeedableRng;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasData, Linker, Resource, ResourceTable, ResourceType};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::sync;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, IoError, Pollable};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiView};

use super::error::HostTrap;
use super::step_log::SharedStepLog;

/// The WASI interfaces linked into the sandbox, without their versions (any 0.2.x is accepted).
/// These are what the Rust standard library of a `wasm32-wasip2` guest imports.
pub const WASI_INTERFACES: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// Random bytes one call may ask for. WASI's own default is 64 MiB, which a guest could use to
/// make the host allocate that much per call; a step needs a few bytes to seed a hash map.
const SANDBOX_RANDOM_BYTES_MAX: u64 = 1024 * 1024;

/// What makes a run's environment: the time its clocks show and the seed of its randomness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxEnvironment {
    /// The time every clock in the sandbox shows, for the whole run.
    pub clock: DateTime<Utc>,
    /// The seed of every random source in the sandbox. Derive it from everything that makes the
    /// run (plugin, configuration, entity, period, ledger sequence) so a rerun sees the same bytes.
    pub seed: [u8; 32],
}

impl SandboxEnvironment {
    fn since_unix_epoch(&self) -> Duration {
        let seconds = u64::try_from(self.clock.timestamp()).unwrap_or(0);
        Duration::new(seconds, self.clock.timestamp_subsec_nanos())
    }

    /// The seed of one random source, so the sources do not repeat each other's bytes.
    fn derived_seed(&self, source: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.seed);
        hasher.update(source.as_bytes());
        hasher.finalize().into()
    }

    /// The WASI context of one run, writing stdout and stderr into `log`.
    pub(crate) fn wasi_context(&self, log: &SharedStepLog) -> WasiCtx {
        let insecure_seed = self.derived_seed("wasi:random/insecure-seed");
        let mut insecure_seed_bytes = [0u8; 16];
        insecure_seed_bytes.copy_from_slice(&insecure_seed[..16]);

        // The builder's defaults already give no environment, no arguments, no preopens and a
        // closed stdin; they are not repeated here. Everything that defaults to the host's
        // real state (clocks, randomness, stdout, stderr) is replaced.
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(log.stdout())
            .stderr(log.stderr())
            .wall_clock(PinnedWallClock {
                since_unix_epoch: self.since_unix_epoch(),
            })
            .monotonic_clock(PinnedMonotonicClock)
            .secure_random(ChaCha20Rng::from_seed(self.derived_seed("wasi:random/random")))
            .insecure_random(ChaCha20Rng::from_seed(self.derived_seed("wasi:random/insecure")))
            .insecure_random_seed(u128::from_le_bytes(insecure_seed_bytes))
            .max_random_size(SANDBOX_RANDOM_BYTES_MAX);
        builder.build()
    }
}

/// A wall clock that shows the run's pinned time.
struct PinnedWallClock {
    since_unix_epoch: Duration,
}

impl HostWallClock for PinnedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.since_unix_epoch
    }
}

/// A monotonic clock that never moves: time does not pass inside a run.
struct PinnedMonotonicClock;

impl HostMonotonicClock for PinnedMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// The `wasi:clocks/monotonic-clock` import. WASI's own implementation makes the host thread
/// sleep for real when a guest sleeps, which the wall-time limit cannot interrupt (epochs only
/// stop guest code). Here every sleep ends at once, consistent with a clock that never moves.
pub(crate) struct FrozenMonotonicClock<'a> {
    table: &'a mut ResourceTable,
}

struct FrozenMonotonicClockData;

impl HasData for FrozenMonotonicClockData {
    type Data<'a> = FrozenMonotonicClock<'a>;
}

/// A pollable that is always ready: the end of a sleep in a sandbox where time does not pass.
struct ReadyAtOnce;

#[wasmtime_wasi::async_trait]
impl Pollable for ReadyAtOnce {
    async fn ready(&mut self) {}
}

impl FrozenMonotonicClock<'_> {
    fn ready_at_once(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let ready = self.table.push(ReadyAtOnce)?;
        wasmtime_wasi::p2::subscribe(self.table, ready)
    }
}

impl monotonic_clock::Host for FrozenMonotonicClock<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(PinnedMonotonicClock.now())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(PinnedMonotonicClock.resolution())
    }

    fn subscribe_instant(&mut self, _when: monotonic_clock::Instant) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready_at_once()
    }

    fn subscribe_duration(&mut self, _duration: monotonic_clock::Duration) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready_at_once()
    }
}

/// The resource table shared by the WASI I/O interfaces.
struct WasiTable;

impl HasData for WasiTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links the interfaces of [`WASI_INTERFACES`] one by one, rather than with
/// `wasmtime_wasi::p2::add_to_linker_sync`, which would also link sockets.
pub(crate) fn add_wasi_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    fn table<T: WasiView>(state: &mut T) -> &mut ResourceTable {
        state.ctx().table
    }
    fn random<T: WasiView>(state: &mut T) -> &mut wasmtime_wasi::random::WasiRandomCtx {
        let wasmtime_wasi::WasiCtxView { ctx, .. } = state.ctx();
        ctx.random()
    }
    fn frozen_clock<T: WasiView>(state: &mut T) -> FrozenMonotonicClock<'_> {
        FrozenMonotonicClock {
            table: state.ctx().table,
        }
    }

    sync::cli::environment::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    sync::cli::exit::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    sync::cli::stdin::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    sync::cli::stdout::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    sync::cli::stderr::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    sync::cli::terminal_input::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    sync::cli::terminal_output::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    sync::cli::terminal_stdin::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    sync::cli::terminal_stdout::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    sync::cli::terminal_stderr::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    sync::clocks::wall_clock::add_to_linker::<T, WasiClocks>(linker, T::clocks)?;
    sync::clocks::monotonic_clock::add_to_linker::<T, FrozenMonotonicClockData>(linker, frozen_clock::<T>)?;
    sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(linker, T::filesystem)?;
    sync::filesystem::preopens::add_to_linker::<T, WasiFilesystem>(linker, T::filesystem)?;
    sync::io::error::add_to_linker::<T, WasiTable>(linker, table::<T>)?;
    sync::io::poll::add_to_linker::<T, WasiTable>(linker, table::<T>)?;
    sync::io::streams::add_to_linker::<T, WasiTable>(linker, table::<T>)?;
    sync::random::random::add_to_linker::<T, WasiRandom>(linker, random::<T>)?;
    sync::random::insecure::add_to_linker::<T, WasiRandom>(linker, random::<T>)?;
    sync::random::insecure_seed::add_to_linker::<T, WasiRandom>(linker, random::<T>)?;
    Ok(())
}

/// The WASI package whose imports are replaced by traps instead of being linked or refused.
const STUBBED_WASI_PACKAGE: &str = "wasi:sockets/";

/// Whether `import` (e.g. `wasi:sockets/tcp@0.2.9`) is a WASI 0.2 socket interface, which a
/// component may import but never use: [`stub_socket_imports`] makes every call trap.
pub(crate) fn is_stubbed_wasi_interface(import: &str) -> bool {
    let Some((interface, version)) = import.split_once('@') else {
        return false;
    };
    version.starts_with("0.2.") && interface.starts_with(STUBBED_WASI_PACKAGE)
}

/// Defines every socket function `component` imports as a trap naming the function, and every
/// socket resource as an empty host type, in `linker`: the guest loads, and the first socket it
/// tries to create, bind, connect or look up ends the run.
pub(crate) fn stub_socket_imports<T: 'static>(
    linker: &mut Linker<T>,
    component: &Component,
    engine: &Engine,
) -> wasmtime::Result<()> {
    /// What a stubbed socket resource is on the host side: nothing, as none is ever created.
    struct NoSocket;

    for (import, item) in component.component_type().imports(engine) {
        if !is_stubbed_wasi_interface(import) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let mut linker_instance = linker.instance(import)?;
        for (name, export) in instance.exports(engine) {
            match export.ty {
                ComponentItem::ComponentFunc(_) => {
                    let function = format!("{import}#{name}");
                    linker_instance.func_new(name, move |_, _, _, _| {
                        Err(HostTrap::SandboxDenied {
                            function: function.clone(),
                        }
                        .into())
                    })?;
                }
                // The socket interfaces re-export the wasi:io resources they use under their
                // own names; those must be the very types the linked wasi:io gives out.
                ComponentItem::Resource(_) => {
                    let resource_type = match name {
                        "pollable" => ResourceType::host::<DynPollable>(),
                        "input-stream" => ResourceType::host::<DynInputStream>(),
                        "output-stream" => ResourceType::host::<DynOutputStream>(),
                        "error" => ResourceType::host::<IoError>(),
                        _ => ResourceType::host::<NoSocket>(),
                    };
                    linker_instance.resource(name, resource_type, |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Whether `import` (e.g. `wasi:cli/stdout@0.2.6`) is one of the linked WASI interfaces.
pub(crate) fn is_linked_wasi_interface(import: &str) -> bool {
    let Some((interface, version)) = import.split_once('@') else {
        return false;
    };
    version.starts_with("0.2.") && WASI_INTERFACES.contains(&interface)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves only 0.2 versions of the linked interfaces are accepted, and sockets are never
    // linked, only stubbed.
    #[test]
    fn linked_interfaces_are_recognised() {
        assert!(is_linked_wasi_interface("wasi:cli/stdout@0.2.6"));
        assert!(is_linked_wasi_interface("wasi:random/insecure-seed@0.2.0"));
        assert!(!is_linked_wasi_interface("wasi:cli/stdout"));
        assert!(!is_linked_wasi_interface("wasi:cli/stdout@0.3.0"));
        assert!(!is_linked_wasi_interface("wasi:sockets/tcp@0.2.6"));
        assert!(!is_linked_wasi_interface("wasi:http/outgoing-handler@0.2.6"));
        assert!(is_stubbed_wasi_interface("wasi:sockets/tcp@0.2.9"));
        assert!(!is_stubbed_wasi_interface("wasi:sockets/tcp@0.3.0"));
        assert!(!is_stubbed_wasi_interface("wasi:http/outgoing-handler@0.2.6"));
    }

    // Proves the random sources are seeded from the caller's seed and differ from each other.
    #[test]
    fn random_sources_are_derived_from_the_seed() {
        let environment = SandboxEnvironment {
            clock: DateTime::<Utc>::UNIX_EPOCH,
            seed: [7; 32],
        };
        assert_eq!(
            environment.derived_seed("wasi:random/random"),
            environment.derived_seed("wasi:random/random")
        );
        assert_ne!(
            environment.derived_seed("wasi:random/random"),
            environment.derived_seed("wasi:random/insecure")
        );
    }
}
