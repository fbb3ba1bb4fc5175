//! `fake-openai`: the fake OpenAI-compatible server as a process, for end-to-end tests.
//!
//! Usage: `fake-openai [--port PORT]` (default 0, a free port). It prints
//! `listening on http://127.0.0.1:PORT/v1` on stdout once ready, echoes the last user message of
//! every request word by word, and runs until interrupted.

use std::process::ExitCode;

use test_support::{FakeOpenAi, FakeOpenAiOptions, Fallback};

fn parse_port(mut arguments: impl Iterator<Item = String>) -> Result<u16, String> {
    let mut port = 0;
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--port" => {
                let value = arguments.next().ok_or("--port needs a value")?;
                port = value
                    .parse()
                    .map_err(|_| format!("--port: {value:?} is not a port number"))?;
            }
            "--help" | "-h" => return Err("usage: fake-openai [--port PORT]".to_owned()),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: fake-openai [--port PORT]"
                ));
            }
        }
    }
    Ok(port)
}

#[tokio::main]
async fn main() -> ExitCode {
    let port = match parse_port(std::env::args().skip(1)) {
        Ok(port) => port,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let options = FakeOpenAiOptions {
        port,
        fallback: Fallback::Echo,
    };
    let server = match FakeOpenAi::start_with(options).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", server.base_url());
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("cannot wait for ctrl-c: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
