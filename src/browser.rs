//! A headless Chromium driven over the DevTools protocol: how the HTML player (and other viewers of
//! our exports) are checked and measured. Debian's `chromium` with SwiftShader gives WebGL2 without a
//! GPU. Pages are opened from `file://`; nothing is fetched from the network.

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// Where to find the browser: `EFFICIENT4D_CHROMIUM`, else the first of these on `PATH`.
const BROWSERS: [&str; 4] = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/// A running headless browser with one page, and what that page reported as errors.
pub struct Browser {
    /// The browser's name and version, as it reports them (`Chrome/156.0.8078.129`).
    pub product: String,
    child: Child,
    socket: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    errors: Vec<String>,
    /// The browser's own log (stderr), kept for error messages.
    log: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

/// What a DevTools `exceptionDetails` says went wrong.
fn exception_text(details: &Value) -> &str {
    details["exception"]["description"].as_str().or(details["text"].as_str()).unwrap_or("?")
}

/// The last `lines` of the browser's stderr.
fn tail(log: &Mutex<Vec<String>>, lines: usize) -> Vec<String> {
    let log = log.lock().expect("log lock");
    log[log.len().saturating_sub(lines)..].to_vec()
}

fn find_browser() -> anyhow::Result<String> {
    if let Ok(path) = std::env::var("EFFICIENT4D_CHROMIUM") {
        return Ok(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    BROWSERS
        .iter()
        .find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
                .map(|p| p.display().to_string())
        })
        .ok_or_else(|| {
            anyhow!(
                "no Chromium found (looked for {} on PATH): install Debian's `chromium` package, or set \
                 EFFICIENT4D_CHROMIUM to a Chromium or Chrome binary",
                BROWSERS.join(", ")
            )
        })
}

impl Browser {
    /// Starts the browser with a `width`×`height` window and a fresh profile, and opens a blank page.
    pub fn launch(width: u32, height: u32) -> anyhow::Result<Self> {
        let binary = find_browser()?;
        let profile = tempfile::tempdir()?;
        let mut child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                // Containers often give /dev/shm a few MiB; a large page would crash the renderer there.
                "--disable-dev-shm-usage",
                // WebGL2 on the CPU: SwiftShader through ANGLE.
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                "--no-first-run",
                "--no-default-browser-check",
                // Nothing that reaches for the network (this machine's is closed; a user's should not be used).
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        // The browser prints its DevTools address on stderr; keep reading after it so the pipe never fills.
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(at) = line.find("ws://") {
                        let _ = address_tx.send(line[at..].trim().to_string());
                    }
                    log.lock().expect("log lock").push(line);
                }
            });
        }
        let Ok(address) = address_rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            bail!(
                "{binary} did not start (no DevTools address within 60 s); its last words:\n{}",
                tail(&log, 15).join("\n")
            );
        };
        let host = address.trim_start_matches("ws://").split('/').next().unwrap_or_default().to_string();
        let stream = TcpStream::connect(&host).with_context(|| format!("connecting to {address}"))?;
        let (socket, _) = tungstenite::client::client(address.as_str(), stream)
            .map_err(|e| anyhow!("DevTools handshake with {address}: {e}"))?;
        let mut browser = Self {
            product: String::new(),
            child,
            socket,
            session: String::new(),
            next_id: 0,
            errors: Vec::new(),
            log,
            _profile: profile,
        };
        let version = browser.call("Browser.getVersion", json!({}), Duration::from_secs(30))?;
        browser.product = version["product"].as_str().unwrap_or("unknown browser").to_string();
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }), Duration::from_secs(30))?;
        let target_id = target["targetId"].as_str().ok_or_else(|| anyhow!("no target id in {target}"))?.to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
            Duration::from_secs(30),
        )?;
        browser.session = attached["sessionId"].as_str().ok_or_else(|| anyhow!("no session in {attached}"))?.into();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            browser.call(domain, json!({}), Duration::from_secs(30))?;
        }
        Ok(browser)
    }

    /// Errors the page reported so far: uncaught exceptions, `console.error`, and the browser's own
    /// error log entries for the page (a failed load, a WebGL error).
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Runs `source` in every page this browser opens from now on, before the page's own scripts (to
    /// hold a viewer's clock still, or keep its drawing buffer readable).
    pub fn add_init_script(&mut self, source: &str) -> anyhow::Result<()> {
        self.call("Page.addScriptToEvaluateOnNewDocument", json!({ "source": source }), Duration::from_secs(30))?;
        Ok(())
    }

    /// Makes the page's viewport `width`×`height` CSS pixels at one device pixel each.
    pub fn set_viewport(&mut self, width: u32, height: u32) -> anyhow::Result<()> {
        let metrics = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false });
        self.call("Emulation.setDeviceMetricsOverride", metrics, Duration::from_secs(30))?;
        Ok(())
    }

    /// Drags the mouse from `from` to `to` (CSS pixels) in eight moves with `button` held
    /// (`left`, `right`), and `modifiers` (DevTools bit mask: 8 is shift), as a user's hand would.
    pub fn drag(&mut self, from: (f64, f64), to: (f64, f64), button: &str, modifiers: u32) -> anyhow::Result<()> {
        let steps = 8;
        let mut event = |kind: &str, (x, y): (f64, f64)| {
            let params = json!({ "type": kind, "x": x, "y": y, "button": button, "buttons": if button == "right" { 2 } else { 1 },
                "clickCount": 1, "modifiers": modifiers });
            self.call("Input.dispatchMouseEvent", params, Duration::from_secs(30)).map(|_| ())
        };
        event("mousePressed", from)?;
        for i in 1..=steps {
            let f = f64::from(i) / f64::from(steps);
            event("mouseMoved", (from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f))?;
        }
        event("mouseReleased", to)
    }

    /// Two fingers on a touch screen, centred on `centre`, moving from `from_gap` to `to_gap` pixels
    /// apart (a pinch).
    pub fn pinch(&mut self, centre: (f64, f64), from_gap: f64, to_gap: f64) -> anyhow::Result<()> {
        let steps = 8;
        let mut touch = |kind: &str, gap: f64| {
            let points = if kind == "touchEnd" {
                json!([])
            } else {
                json!([
                    { "x": centre.0 - gap / 2.0, "y": centre.1, "id": 0 },
                    { "x": centre.0 + gap / 2.0, "y": centre.1, "id": 1 },
                ])
            };
            self.call(
                "Input.dispatchTouchEvent",
                json!({ "type": kind, "touchPoints": points }),
                Duration::from_secs(30),
            )
            .map(|_| ())
        };
        touch("touchStart", from_gap)?;
        for i in 1..=steps {
            touch("touchMove", from_gap + (to_gap - from_gap) * f64::from(i) / f64::from(steps))?;
        }
        touch("touchEnd", to_gap)
    }

    /// Presses and releases one key (`key` as the DOM names it: " ", "ArrowRight").
    pub fn press_key(&mut self, key: &str, code: &str) -> anyhow::Result<()> {
        for kind in ["keyDown", "keyUp"] {
            let params =
                json!({ "type": kind, "key": key, "code": code, "text": if kind == "keyDown" { key } else { "" } });
            self.call("Input.dispatchKeyEvent", params, Duration::from_secs(30))?;
        }
        Ok(())
    }

    /// Opens `url` and waits for its load event.
    pub fn open(&mut self, url: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let navigated = self.call("Page.navigate", json!({ "url": url }), timeout)?;
        if let Some(error) = navigated.get("errorText") {
            bail!("opening {url}: {error}");
        }
        self.wait_for_event("Page.loadEventFired", deadline).with_context(|| format!("loading {url}"))
    }

    /// Evaluates `expression` in the page, awaiting it if it is a promise; its value as JSON.
    pub fn evaluate(&mut self, expression: &str, timeout: Duration) -> anyhow::Result<Value> {
        let reply = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            timeout,
        )?;
        if let Some(details) = reply.get("exceptionDetails") {
            bail!("evaluating `{expression}` threw: {}", exception_text(details));
        }
        Ok(reply["result"]["value"].clone())
    }

    /// Polls `condition` (a JavaScript expression) until it is truthy.
    pub fn wait_until(&mut self, condition: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.evaluate(&format!("Boolean({condition})"), timeout)?.as_bool() == Some(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("`{condition}` still false after {timeout:?}; page errors: {:?}", self.errors);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends one DevTools command (to the page once attached) and returns its result, recording the
    /// events that arrive meanwhile.
    fn call(&mut self, method: &str, params: Value, timeout: Duration) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket.send(Message::text(message.to_string())).map_err(|e| anyhow!("DevTools {method}: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.receive(deadline).with_context(|| format!("waiting for {method}"))?;
            if reply["id"].as_u64() == Some(id) {
                if let Some(error) = reply.get("error") {
                    bail!("DevTools {method}: {error}");
                }
                return Ok(reply["result"].clone());
            }
        }
    }

    fn wait_for_event(&mut self, method: &str, deadline: Instant) -> anyhow::Result<()> {
        loop {
            if self.receive(deadline)?["method"].as_str() == Some(method) {
                return Ok(());
            }
        }
    }

    /// The next message, by `deadline`; page errors among events are recorded.
    fn receive(&mut self, deadline: Instant) -> anyhow::Result<Value> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("the browser did not answer in time");
            }
            self.socket.get_mut().set_read_timeout(Some(left))?;
            let message = match self.socket.read() {
                Ok(Message::Text(text)) => serde_json::from_str::<Value>(&text)?,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    continue;
                }
                Err(e) => bail!("the browser connection failed: {e}"),
            };
            self.record_error(&message);
            return Ok(message);
        }
    }

    fn record_error(&mut self, event: &Value) {
        let params = &event["params"];
        let error = match event["method"].as_str() {
            Some("Runtime.exceptionThrown") => Some(exception_text(&params["exceptionDetails"]).to_string()),
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => Some(format!(
                "console.error: {}",
                params["args"]
                    .as_array()
                    .map(|a| a.iter().map(|v| v["value"].to_string()).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            )),
            Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
                Some(format!("{}: {}", params["entry"]["source"], params["entry"]["text"]))
            }
            _ => None,
        };
        self.errors.extend(error);
    }

    /// The last lines the browser wrote to stderr (for diagnosing a failure).
    pub fn log_tail(&self, lines: usize) -> Vec<String> {
        tail(&self.log, lines)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.socket.close(None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
