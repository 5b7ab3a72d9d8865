//! Compiling a component, in a child process held to a memory limit. Compiling costs host memory
//! before any check of the plugin can run, and a small component can be made to cost gigabytes
//! (issue 17: 44 KB took 2.2 GB). So the `closebook` binary compiles in a copy of itself, started
//! with the hidden subcommand [`COMPILE_SUBCOMMAND`] under an `RLIMIT_DATA` of
//! [`PLUGIN_COMPILE_MEMORY_BYTES_MAX`]: a bomb kills the child, and the command that loads the
//! plugin fails with an error naming the limit while its own memory stays small. The child writes
//! the compiled component into the cache, so it is compiled once.
//!
//! A library user that never calls [`compile_in_child_processes`] (the unit tests, the benchmark)
//! compiles in its own process, as before.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::OnceLock;

use wasmtime::Engine;

use super::error::PluginError;
use super::runtime::{PLUGIN_COMPONENT_BYTES_MAX, engine_config};

/// Bytes of private writable memory (`RLIMIT_DATA`: heap, anonymous mappings, thread stacks) the
/// process that compiles a component may map. What the child maps bounds what it holds resident,
/// apart from the binary's own code, so the child stays below the host's 1 GiB bound. The largest
/// real components, the 19 MB Python and 12 MB JavaScript steps, peak at 520–560 MB resident
/// while compiling (debug build, [`PLUGIN_COMPILE_THREADS`] threads); the Python step compiles
/// under a limit of 640 MiB and not under 512 MiB, so this leaves it a fifth more room.
pub const PLUGIN_COMPILE_MEMORY_BYTES_MAX: u64 = 768 * 1024 * 1024;

/// Threads the compiling child uses (wasmtime compiles functions in parallel on rayon's pool).
/// Each thread holds a function's compiler state, so memory grows with threads; a fixed number
/// keeps the memory a component needs the same on every machine, the one it was measured on.
pub const PLUGIN_COMPILE_THREADS: usize = 2;

/// Lowers [`PLUGIN_COMPILE_MEMORY_BYTES_MAX`] for one process (a value above it is refused): for
/// a machine with less memory to spare, and for the test that proves a compile beyond the limit
/// is refused without a component large enough to need a gigabyte.
pub const PLUGIN_COMPILE_MEMORY_BYTES_VARIABLE: &str = "CLOSEBOOK_PLUGIN_COMPILE_MEMORY_BYTES";

/// The hidden subcommand a compiling child runs: `closebook __compile-plugin OUTPUT`, with the
/// wasm on its standard input. It writes the compiled component to OUTPUT, a new file.
pub const COMPILE_SUBCOMMAND: &str = "__compile-plugin";

/// Permissions of a compiled component: it is native code the host will run.
const COMPILED_FILE_MODE: u32 = 0o600;

/// The exit status of a child that refused its input or could not write its output; its stderr
/// says why. Any other failure of the child is taken for the memory limit.
const CHILD_REFUSED_EXIT_CODE: i32 = 3;

/// The executable that compiles components, once [`compile_in_child_processes`] has chosen it,
/// or why it could not be found (then every compile is refused rather than run unbounded).
static COMPILER: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Makes every later compile in this process run in a child: this executable, which must handle
/// [`COMPILE_SUBCOMMAND`] through [`run_compile_subcommand`] (the `closebook` binary does).
pub fn compile_in_child_processes() {
    let _ = COMPILER.set(std::env::current_exe().map_err(|error| error.to_string()));
}

/// Runs the compile subcommand when the process was started as a compiling child (its first
/// argument is [`COMPILE_SUBCOMMAND`]), and returns its exit code; `None` for any other command.
pub fn run_compile_subcommand() -> Option<ExitCode> {
    let mut arguments = std::env::args_os().skip(1);
    if arguments.next()? != COMPILE_SUBCOMMAND {
        return None;
    }
    let (Some(output), None) = (arguments.next(), arguments.next()) else {
        eprintln!("usage: closebook {COMPILE_SUBCOMMAND} OUTPUT < component.wasm");
        return Some(ExitCode::from(CHILD_REFUSED_EXIT_CODE as u8));
    };
    let mut wasm = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(PLUGIN_COMPONENT_BYTES_MAX + 1)
        .read_to_end(&mut wasm);
    if let Err(error) = read {
        eprintln!("could not read the component from standard input: {error}");
        return Some(ExitCode::from(CHILD_REFUSED_EXIT_CODE as u8));
    }
    if wasm.len() as u64 > PLUGIN_COMPONENT_BYTES_MAX {
        eprintln!("the component is larger than {PLUGIN_COMPONENT_BYTES_MAX} bytes");
        return Some(ExitCode::from(CHILD_REFUSED_EXIT_CODE as u8));
    }
    let compiled = Engine::new(&engine_config()).and_then(|engine| engine.precompile_component(&wasm));
    match compiled {
        Ok(compiled) => match write_new_file(Path::new(&output), &compiled) {
            Ok(()) => Some(ExitCode::SUCCESS),
            Err(error) => {
                eprintln!("could not write the compiled component: {error}");
                Some(ExitCode::from(CHILD_REFUSED_EXIT_CODE as u8))
            }
        },
        Err(error) => {
            eprintln!("{error:#}");
            Some(ExitCode::from(CHILD_REFUSED_EXIT_CODE as u8))
        }
    }
}

/// Compiles `wasm` for `engine` into the new file `output`: in a child process held to the
/// compile memory limit when [`compile_in_child_processes`] was called, else in this process.
pub(crate) fn compile_to_file(engine: &Engine, plugin: &str, wasm: &[u8], output: &Path) -> Result<(), PluginError> {
    let Some(compiler) = COMPILER.get() else {
        let compiled = engine
            .precompile_component(wasm)
            .map_err(|error| PluginError::Compile {
                plugin: plugin.to_string(),
                reason: format!("{error:#}"),
            })?;
        return write_new_file(output, &compiled).map_err(|error| PluginError::Cache {
            path: output.to_path_buf(),
            reason: format!("could not write the compiled component: {error}"),
        });
    };
    match compiler {
        Ok(compiler) => compile_in_child(compiler, plugin, wasm, output),
        Err(reason) => Err(PluginError::Compile {
            plugin: plugin.to_string(),
            reason: format!(
                "the closebook executable, which compiles plugins in a child process, cannot be found: {reason}"
            ),
        }),
    }
}

fn compile_in_child(compiler: &Path, plugin: &str, wasm: &[u8], output: &Path) -> Result<(), PluginError> {
    let limit_bytes = compile_memory_bytes()?;
    let compile_error = |reason: String| PluginError::Compile {
        plugin: plugin.to_string(),
        reason,
    };
    let mut command = Command::new(compiler);
    command
        .arg(COMPILE_SUBCOMMAND)
        .arg(output)
        .env("RAYON_NUM_THREADS", PLUGIN_COMPILE_THREADS.to_string())
        // A backtrace would only bury the line that says which allocation failed.
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let limit = libc::rlimit {
        rlim_cur: limit_bytes as libc::rlim_t,
        rlim_max: limit_bytes as libc::rlim_t,
    };
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe
    // functions may be called; `setrlimit` is one, and the closure allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|error| compile_error(format!("could not start {}: {error}", compiler.display())))?;
    // The wasm is written from a thread while stderr is read here, so that neither pipe can
    // fill up and stall the other side.
    let mut stdin = child.stdin.take().expect("the child's stdin is piped");
    let mut stderr = child.stderr.take().expect("the child's stderr is piped");
    let said = std::thread::scope(|scope| {
        scope.spawn(move || {
            // A child that dies early closes the pipe; its exit status says why.
            let _ = stdin.write_all(wasm);
        });
        let mut said = Vec::new();
        // At most 64 KiB of what the child says: enough for any error of wasmtime's.
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut said);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        said
    });
    let status = child
        .wait()
        .map_err(|error| compile_error(format!("could not wait for the compiling process: {error}")))?;
    if status.success() {
        return Ok(());
    }
    let _ = std::fs::remove_file(output);
    let said = String::from_utf8_lossy(&said).trim().to_string();
    let limit_mib = limit_bytes / (1024 * 1024);
    if status.code() == Some(CHILD_REFUSED_EXIT_CODE) {
        let said = closebook_ledger::journal::escape_control_characters(&said).into_owned();
        // wasmtime maps its code memory itself, and reports a refused mapping as an error.
        if said.contains(OUT_OF_MEMORY_ERROR) {
            return Err(PluginError::CompileMemoryExceeded {
                plugin: plugin.to_string(),
                limit_mib,
                how: format!("the compiler said: {said}"),
            });
        }
        return Err(compile_error(said));
    }
    // A child out of memory says which allocation failed on its first line, and aborts.
    let first_line = said.lines().next().unwrap_or("").to_string();
    let first_line = closebook_ledger::journal::escape_control_characters(&first_line).into_owned();
    let how = match (status.code(), status.signal()) {
        (_, Some(signal)) => format!("it was ended by signal {signal}"),
        (Some(code), None) => format!("it exited with status {code}"),
        (None, None) => "it failed".to_string(),
    };
    let how = if first_line.is_empty() {
        how
    } else {
        format!("{how}: {first_line}")
    };
    if first_line.starts_with(ALLOCATION_FAILED_PREFIX) {
        return Err(PluginError::CompileMemoryExceeded {
            plugin: plugin.to_string(),
            limit_mib,
            how,
        });
    }
    // Another failure (a compiler panic, a thread that could not start): the memory limit may
    // still be the cause, so it is named, but not claimed.
    Err(compile_error(format!(
        "the compiling process failed ({how}); it was held to {limit_mib} MiB of memory (PLUGIN_COMPILE_MEMORY_BYTES_MAX), which may be why"
    )))
}

/// How the operating system's "out of memory" (`ENOMEM`) reads in an error of Rust's.
const OUT_OF_MEMORY_ERROR: &str = "(os error 12)";

/// How Rust's default handler for a failed allocation starts its message, before it aborts.
const ALLOCATION_FAILED_PREFIX: &str = "memory allocation of ";

/// The compile memory limit: [`PLUGIN_COMPILE_MEMORY_BYTES_MAX`], or lower when
/// [`PLUGIN_COMPILE_MEMORY_BYTES_VARIABLE`] says so.
fn compile_memory_bytes() -> Result<u64, PluginError> {
    let Some(value) = std::env::var_os(PLUGIN_COMPILE_MEMORY_BYTES_VARIABLE) else {
        return Ok(PLUGIN_COMPILE_MEMORY_BYTES_MAX);
    };
    let refused = || PluginError::Engine {
        reason: format!(
            "{PLUGIN_COMPILE_MEMORY_BYTES_VARIABLE}={} is not a number of bytes from 1 to {PLUGIN_COMPILE_MEMORY_BYTES_MAX}",
            value.to_string_lossy()
        ),
    };
    let bytes: u64 = value.to_str().and_then(|text| text.parse().ok()).ok_or_else(refused)?;
    if bytes == 0 || bytes > PLUGIN_COMPILE_MEMORY_BYTES_MAX {
        return Err(refused());
    }
    Ok(bytes)
}

/// Writes `bytes` to the new file `path`, private to its owner, flushed to disk.
fn write_new_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(COMPILED_FILE_MODE)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
