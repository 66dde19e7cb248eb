//! toolboxd-desktop: the desktop helper of toolboxd.
//!
//! toolboxd starts it with `DISPLAY` set and speaks `toolboxd-desktop-protocol` over its stdin
//! and stdout: this program says hello, then answers every request line with one response
//! line, in order. It links what the core must not (enigo for input, xcap for capture) and
//! connects to the X server lazily, on the first request, and again after the server went
//! away, so it outlives X server restarts. It exits when its stdin closes.
//!
//! Diagnostics go to stderr, which toolboxd logs.

mod capture;
mod image_out;
mod input;
mod x11;

use std::io::{BufRead, Write};

use toolboxd_desktop_protocol::{ErrorKind, HelperError, Op, Output, PROTOCOL_VERSION, Reply, Request};

use crate::input::Input;
use crate::x11::X;

/// The longest request line read; requests are small (typed text is the largest).
const MAX_REQUEST_LINE: usize = 8 * 1024 * 1024;

/// The connections to the X server, made on first use.
struct Session {
    display: String,
    x: X,
    input: Input,
}

impl Session {
    fn connect(display: &str) -> Result<Session, HelperError> {
        let x = X::connect(display)?;
        let input = Input::connect(display)?;
        Ok(Session { display: display.to_owned(), x, input })
    }

    fn run(&mut self, op: Op) -> Result<Reply, HelperError> {
        match op {
            Op::MousePosition => self.x.pointer().map(Reply::Position),
            Op::Screenshot(spec) => capture::screenshot(&self.x, &spec).map(Reply::Image),
            Op::DisplayInfo => self.x.displays().map(|displays| Reply::Displays { displays }),
            Op::Windows => self.x.windows().map(|windows| Reply::Windows { windows }),
            input_op => {
                let position = self.input.run(input_op)?;
                // Report where the pointer really is: the screen's edges clamp it.
                if position { self.x.pointer().map(Reply::Position) } else { Ok(Reply::Done) }
            }
        }
    }
}

fn main() {
    let display = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty()).unwrap_or_else(|| ":0".to_owned());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if send(&mut out, &Output::Hello { protocol: PROTOCOL_VERSION }).is_err() {
        return;
    }
    let mut session: Option<Session> = None;
    let mut input = std::io::stdin().lock();
    let mut line = String::new();
    loop {
        line.clear();
        match std::io::Read::take(&mut input, MAX_REQUEST_LINE as u64).read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !line.ends_with('\n') && line.len() >= MAX_REQUEST_LINE {
            log(&format!("a request line is longer than {MAX_REQUEST_LINE} bytes; stopping"));
            return;
        }
        let request: Request = match serde_json::from_str(&line) {
            Ok(request) => request,
            Err(err) => {
                log(&format!("unreadable request, stopping: {err}"));
                return;
            }
        };
        let result = handle(&mut session, &display, request.op);
        if send(&mut out, &Output::Response { id: request.id, result }).is_err() {
            return;
        }
    }
}

/// Runs one operation, connecting first if need be. When it fails and the server no longer
/// answers, the session is dropped so the next request reconnects.
fn handle(session: &mut Option<Session>, display: &str, op: Op) -> Result<Reply, HelperError> {
    if session.as_ref().is_some_and(|s| s.display != display) {
        *session = None;
    }
    let current = match session {
        Some(current) => current,
        None => session.insert(Session::connect(display)?),
    };
    let result = current.run(op);
    if result.is_err() && !current.x.alive() {
        *session = None;
        return Err(HelperError::new(
            ErrorKind::DisplayUnreachable,
            format!("the X server at {display} stopped answering"),
        ));
    }
    result
}

fn send(out: &mut impl Write, output: &Output) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(output).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

#[allow(clippy::print_stderr)]
fn log(message: &str) {
    eprintln!("{message}");
}
