// SPDX-License-Identifier: Apache-2.0
//! `cni-shim`: what a runtime execs as one of our plugins once `cni install` has written it
//! under the plugin's name.
//!
//! It hands the whole invocation (argv, environment, cwd, umask, stdio and its network and
//! mount namespaces) to the warm agent (`cni agent`), whose pre-forked worker already has the
//! plugin imported, and exits with the worker's status, forwarding SIGTERM, SIGINT and SIGHUP
//! meanwhile. Its hanging up (a runtime's SIGKILL on timeout) makes the worker die too. When
//! no agent serves it, for whatever reason, it execs the Python launcher that `cni install`
//! wrote beside it, in this same process: behaviour without an agent is the launcher's, plus
//! one exec. It falls back only after taking the request's token itself, so an invocation
//! never runs twice. The wire protocol is `cni_core::warm`.

mod sys;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cni_core::json::{self, Value};
use cni_core::warm;

/// Where the agent listens unless the installation's `.cni-shim.conf` says otherwise.
const DEFAULT_SOCKET: &str = "/run/cni/agent/agent.sock";
/// How long to wait for a worker to take the request before execing the launcher instead.
const DEFAULT_TIMEOUT_MS: i32 = 5000;
/// The installation's settings, beside the shims (`cni install` writes it).
const CONF: &str = ".cni-shim.conf";
/// The Python launchers, one per plugin name, beside the shims.
const LAUNCHERS: &str = ".cni-launchers";
/// Go's skel answers failures it cannot classify with code 999 ("internal").
const INTERNAL: u64 = 999;

struct Settings {
    socket: PathBuf,
    timeout_ms: i32,
}

enum Outcome {
    Exit(i32),
    Signal(i32),
    Fallback,
}

fn main() {
    let argv: Vec<OsString> = std::env::args_os().collect();
    // The name the runtime exec'd, by the link it used: hard links and copies keep their
    // own names in /proc/self/exe.
    let exe = std::fs::read_link("/proc/self/exe")
        .unwrap_or_else(|_| PathBuf::from(argv.first().cloned().unwrap_or_default()));
    let dir = exe.parent().unwrap_or(Path::new("/")).to_path_buf();
    let name = exe
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let settings = read_settings(&dir.join(CONF));

    let Ok((old_mask, signals)) = sys::block_forwarded() else {
        fall_back(&dir, &name, &argv, None)
    };
    match serve(&settings, &name, &argv, &signals) {
        Outcome::Exit(code) => std::process::exit(code),
        Outcome::Signal(signum) => sys::die_by(signum, &old_mask),
        Outcome::Fallback => {
            drop(signals);
            fall_back(&dir, &name, &argv, Some(&old_mask))
        }
    }
}

fn read_settings(path: &Path) -> Settings {
    let mut settings = Settings {
        socket: PathBuf::from(DEFAULT_SOCKET),
        timeout_ms: DEFAULT_TIMEOUT_MS,
    };
    let Ok(text) = std::fs::read(path) else {
        return settings;
    };
    for line in text.split(|&b| b == b'\n') {
        if let Some(value) = line.strip_prefix(b"socket=") {
            settings.socket = PathBuf::from(OsString::from_vec(value.to_vec()));
        } else if let Some(value) = line.strip_prefix(b"timeout_ms=") {
            if let Some(ms) = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                settings.timeout_ms = ms;
            }
        }
    }
    settings
}

/// One invocation through the agent, or [`Outcome::Fallback`] whenever it did not start
/// there (nothing has run yet then).
fn serve(settings: &Settings, name: &[u8], argv: &[OsString], signals: &OwnedFd) -> Outcome {
    let Ok(stream) = UnixStream::connect(&settings.socket) else {
        return Outcome::Fallback;
    };
    // An agent of another user would be handed root's namespaces: only root's or our own.
    match sys::peer_uid(&stream) {
        Ok(uid) if uid == 0 || uid == sys::geteuid() => {}
        _ => return Outcome::Fallback,
    }
    if !(0..3).all(sys::is_open) {
        return Outcome::Fallback;
    }
    let (Ok(net), Ok(mnt), Ok(cwd), Ok(token)) = (
        sys::open("/proc/self/ns/net", libc::O_RDONLY),
        sys::open("/proc/self/ns/mnt", libc::O_RDONLY),
        sys::open(".", libc::O_PATH | libc::O_DIRECTORY),
        sys::token(),
    ) else {
        return Outcome::Fallback;
    };
    let request = warm::Request {
        version: env!("CARGO_PKG_VERSION").as_bytes().to_vec(),
        plugin: name.to_vec(),
        cwd: std::env::current_dir()
            .map(|p| p.into_os_string().into_vec())
            .unwrap_or_default(),
        umask: sys::umask(),
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        env: std::env::vars_os()
            .map(|(k, v)| {
                let mut item = k.into_vec();
                item.push(b'=');
                item.extend_from_slice(v.as_bytes());
                item
            })
            .collect(),
    };
    let fds = [
        0,
        1,
        2,
        net.as_raw_fd(),
        mnt.as_raw_fd(),
        cwd.as_raw_fd(),
        token.as_raw_fd(),
    ];
    let timeout = Duration::from_millis(u64::try_from(settings.timeout_ms.max(1)).unwrap_or(1));
    if stream.set_write_timeout(Some(timeout)).is_err()
        || sys::send_with_fds(&stream, &request.encode(), &fds).is_err()
    {
        return give_up(&token, || Outcome::Exit(1));
    }
    drop((net, mnt, cwd));
    supervise(&stream, signals, &token, settings.timeout_ms)
}

/// Falls back if the token is still ours to take; otherwise the worker has it, and
/// `otherwise` says what became of it.
fn give_up(token: &OwnedFd, otherwise: impl FnOnce() -> Outcome) -> Outcome {
    if sys::take(token) {
        Outcome::Fallback
    } else {
        otherwise()
    }
}

/// Forwards signals until the worker's exit status arrives. Until the worker is known to have
/// the token, waits at most `timeout_ms`, then takes the token back if it can.
///
/// A DEL's SIGTERM and SIGINT stay here: the plugin ignores both during DEL (skel does, so a
/// DEL is never cut short), and the worker learns of a forwarded signal by a SIGIO that
/// interrupts whatever call it is in.
fn supervise(stream: &UnixStream, signals: &OwnedFd, token: &OwnedFd, timeout_ms: i32) -> Outcome {
    let deleting = std::env::var_os("CNI_COMMAND").is_some_and(|c| c == "DEL");
    let mut forwarded = None;
    let mut wait = timeout_ms.max(1);
    loop {
        let Ok((from_agent, signalled)) =
            sys::poll2(stream.as_raw_fd(), Some(signals.as_raw_fd()), wait)
        else {
            return give_up(token, || worker_lost(forwarded));
        };
        if !from_agent && !signalled {
            // Timed out: the token decides whether the worker is running it.
            if sys::take(token) {
                return Outcome::Fallback;
            }
            wait = -1;
            continue;
        }
        if signalled {
            if let Some(signum) = sys::read_signal(signals)
                .filter(|&s| !(deleting && (s == libc::SIGTERM || s == libc::SIGINT)))
            {
                forwarded = Some(signum);
                // A worker already gone shows as EOF on the next poll.
                let _ = sys::send(stream, &warm::encode_frame(warm::SIGNAL, signum));
            }
        }
        if from_agent {
            // A refusal, or the agent hanging up: the token says whether anything ran.
            return match read_frame(stream) {
                Some((warm::EXIT, code)) => Outcome::Exit(code),
                _ => give_up(token, || worker_lost(forwarded)),
            };
        }
    }
}

/// The worker ended without a status: killed by the signal we forwarded (so are we), or by
/// something else.
fn worker_lost(forwarded: Option<i32>) -> Outcome {
    if let Some(signum) = forwarded {
        return Outcome::Signal(signum);
    }
    let _ = writeln!(
        std::io::stderr(),
        "cni-shim: the agent's worker ended without an exit status"
    );
    Outcome::Exit(1)
}

/// One frame of a readable stream; None on EOF or a short read.
fn read_frame(mut stream: &UnixStream) -> Option<(u32, i32)> {
    let mut frame = [0u8; warm::FRAME_LEN];
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.read_exact(&mut frame).ok()?;
    Some(warm::decode_frame(frame))
}

/// Execs the Python launcher for `name`, as if the runtime had exec'd it.
fn fall_back(dir: &Path, name: &[u8], argv: &[OsString], old_mask: Option<&libc::sigset_t>) -> ! {
    if let Some(mask) = old_mask {
        sys::restore_mask(mask);
    }
    let launcher = dir.join(LAUNCHERS).join(OsString::from_vec(name.to_vec()));
    let err = sys::exec(&launcher, argv);
    // The spec's error JSON, so a runtime sees why rather than an empty answer.
    let error = Value::Object(vec![
        ("code".into(), Value::UInt(INTERNAL)),
        (
            "msg".into(),
            Value::Str(format!(
                "cni-shim: cannot exec {}: {err}",
                launcher.display()
            )),
        ),
    ]);
    if let Ok(text) = json::to_string(&error, Some(4)) {
        let _ = writeln!(std::io::stdout(), "{text}");
    }
    std::process::exit(1)
}
