//! A small HTTP/1.1 file server on 127.0.0.1 with byte ranges, 404s and a
//! connection cut on purpose.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What the server answers for one path.
#[derive(Clone)]
pub enum Route {
    /// The bytes, with `Range: bytes=N-` support.
    File(Vec<u8>),
    /// Like `File`, but the first answer announces the full length and the
    /// connection closes after `after` bytes of body.
    CutOnce { bytes: Vec<u8>, after: usize },
}

/// One request the server saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    pub range: Option<String>,
}

/// A running server; it lives until the test process ends.
pub struct Server {
    base: String,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Serves `routes`; any other path is a 404.
    pub fn start(routes: Vec<(&str, Route)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::new(Mutex::new(
            routes
                .into_iter()
                .map(|(path, route)| (path.to_owned(), route))
                .collect(),
        ));
        let thread_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&thread_log);
                let routes = Arc::clone(&routes);
                std::thread::spawn(move || {
                    let _ = serve(stream, &log, &routes);
                });
            }
        });
        Server { base, log }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The requests seen so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    log: &Mutex<Vec<Request>>,
    routes: &Mutex<HashMap<String, Route>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_owned());
            }
        }
    }
    log.lock().unwrap().push(Request {
        path: path.clone(),
        range: range.clone(),
    });

    let route = {
        let mut routes = routes.lock().unwrap();
        let route = routes.get(&path).cloned();
        // A cut happens once; later requests get the whole file.
        if let Some(Route::CutOnce { bytes, .. }) = &route {
            routes.insert(path.clone(), Route::File(bytes.clone()));
        }
        route
    };
    let mut stream = stream;
    let (bytes, cut) = match route {
        None => {
            return stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
        }
        Some(Route::File(bytes)) => (bytes, None),
        Some(Route::CutOnce { bytes, after }) => (bytes, Some(after)),
    };
    let len = bytes.len();
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let head = match start {
        Some(start) if start >= len => {
            let head = format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return stream.write_all(head.as_bytes());
        }
        Some(start) => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{len}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            len - 1,
            len - start
        ),
        None => format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"),
    };
    let body = &bytes[start.unwrap_or(0)..];
    stream.write_all(head.as_bytes())?;
    match cut {
        Some(after) => {
            stream.write_all(&body[..after.min(body.len())])?;
            stream.flush()?;
            stream.shutdown(std::net::Shutdown::Both)
        }
        None => stream.write_all(body),
    }
}
