//! `hostile-escape` (test fixture): a transformer that probes the sandbox and reports what it
//! could do in the header `x-escape` of the request it returns (it never panics):
//!
//! `fs=<..>;file=<..>;env=<n>;tcp=<..>;dns=<..>` where each `<..>` is `denied` when the
//! operation returned an error and `ALLOWED` when it succeeded, and `<n>` is the number of
//! environment variables the component sees:
//! - `fs`: `std::fs::read_dir("/")`;
//! - `file`: `std::fs::read("/etc/passwd")`;
//! - `env`: `std::env::vars_os().count()`;
//! - `tcp`: `std::net::TcpStream::connect("127.0.0.1:80")`;
//! - `dns`: `"localhost:80".to_socket_addrs()`.

use hookgate_sdk::{export_transformer, info, Message, OutgoingRequest, TransformResult, Transformer};
use std::net::{TcpStream, ToSocketAddrs};

struct HostileEscape;

fn outcome<T, E>(result: Result<T, E>) -> &'static str {
    match result {
        Ok(_) => "ALLOWED",
        Err(_) => "denied",
    }
}

impl Transformer for HostileEscape {
    fn transform(_message: Message, mut draft: OutgoingRequest) -> TransformResult {
        let fs = outcome(std::fs::read_dir("/"));
        let file = outcome(std::fs::read("/etc/passwd"));
        // `vars_os`, not `vars`: `vars` panics on a variable that is not UTF-8.
        let env = std::env::vars_os().count();
        let tcp = outcome(TcpStream::connect("127.0.0.1:80"));
        let dns = outcome("localhost:80".to_socket_addrs());
        let report = format!("fs={fs};file={file};env={env};tcp={tcp};dns={dns}");
        info!("hostile-escape: {report}");
        draft.set_header("x-escape", report);
        TransformResult::Send(draft)
    }
}

export_transformer!(HostileEscape);
