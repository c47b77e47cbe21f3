//! The SIP shell: owns the UDP socket and the TCP connections, feeds the
//! sans-IO `SipLayer`, answers what needs no call (OPTIONS, 404, 481, 501,
//! 503) and routes everything else to the call tasks by Call-ID.

use super::metrics::CallMetrics;
use super::nurse_phones::NursePhones;
use super::signal::{new_tag, CallInput, NewCall, SipCommand, ALLOW};
use super::sleep_until;
use super::source_gate::{Rejected, SourceGate, SourceMetrics};
use crate::config::{SipConfig, SourcesConfig};
use crate::readiness::{NotReady, Readiness};
use crate::sip::message::{self, uri_user, RequestInfo};
use crate::sip::stateless;
use crate::sip::tcp_guard::TcpGuard;
use crate::sip::{Peer, SipEvent, SipLayer, TimerConfig, Transport, TxId};
use crate::store::Store;
use bytes::Bytes;
use futures::StreamExt;
use rsip::Method;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

/// What a connection task (TCP or TLS) tells the driver.
enum StreamInput {
    /// A TLS connection finished its handshake.
    Opened {
        conn: u64,
        handle: TcpConn,
    },
    Frame {
        conn: u64,
        addr: SocketAddr,
        transport: Transport,
        bytes: Bytes,
    },
    Closed {
        conn: u64,
    },
}

/// One open SIP TCP or TLS connection: dropping it closes the socket.
struct TcpConn {
    writer: mpsc::UnboundedSender<Bytes>,
    reader: tokio::task::AbortHandle,
}

impl Drop for TcpConn {
    fn drop(&mut self) {
        // The writer task ends with its channel and shuts the write side.
        self.reader.abort();
    }
}

/// How often the driver forgets idle sources and closes idle TCP connections.
const HOUSEKEEPING: std::time::Duration = std::time::Duration::from_secs(1);

/// A TLS handshake that has not finished by then is dropped (a slow or
/// silent client must not hold a task forever).
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// Methods we know but do not serve outside a dialog (405 + Allow).
const KNOWN_NOT_ALLOWED: [Method; 5] = [
    Method::Subscribe,
    Method::Notify,
    Method::Message,
    Method::Refer,
    Method::Publish,
];
/// How long a stopping service waits for the closing messages and their
/// BYEs to be answered.
const DRAIN: std::time::Duration =
    super::CLOSING_MAX.saturating_add(std::time::Duration::from_secs(3));

/// Starts the task of a new inbound call: the driver only routes its messages.
pub trait CallHandler: Send + Sync {
    /// `inbox` carries the dialog's later messages; `sip` sends for the call.
    fn start(
        &self,
        call: NewCall,
        inbox: mpsc::UnboundedReceiver<CallInput>,
        sip: mpsc::UnboundedSender<SipCommand>,
    );
}

/// What the driver needs besides its sockets.
pub struct DriverContext {
    pub config: Arc<SipConfig>,
    pub metrics: Arc<CallMetrics>,
    /// REGISTERs of nurse phones are answered here, secrets from the store.
    pub nurse_phones: Arc<NursePhones>,
    pub store: Store,
    pub calls: Arc<dyn CallHandler>,
    /// OPTIONS answers 503 while the node is not ready (a dispatcher's probe).
    pub readiness: Arc<Readiness>,
    /// The sender side of the command queue `run` reads (calls and the dialer share it).
    pub commands: mpsc::UnboundedSender<SipCommand>,
    /// Trunks, trusted identities and per-source limits (`trunks.toml`).
    pub sources: Arc<SourcesConfig>,
    pub source_metrics: Arc<SourceMetrics>,
}

/// The SIP socket's receive buffer: a burst of a few thousand INVITEs waits
/// here for the driver instead of being dropped by the kernel (which would
/// leave callers with silence instead of a 503).
pub const SIP_RECV_BUFFER: usize = 4 * 1024 * 1024;

/// The UDP socket with `SIP_RECV_BUFFER`; warns when the kernel grants less
/// (`net.core.rmem_max`).
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_recv_buffer_size(SIP_RECV_BUFFER)?;
    // Linux reports twice what it grants (bookkeeping included).
    let granted = socket.recv_buffer_size()?;
    if granted < SIP_RECV_BUFFER {
        tracing::warn!(
            wanted = SIP_RECV_BUFFER,
            granted,
            "SIP receive buffer is small: INVITE bursts may be dropped; raise net.core.rmem_max"
        );
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// The SIP-over-TLS listener (`sip.toml` `tls_bind`).
struct TlsListener {
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

/// Bound sockets, ready to run.
pub struct SipDriver {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    tls: Option<TlsListener>,
}

impl SipDriver {
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        // Same port for TCP as UDP. An ephemeral UDP port (port 0) may already
        // be taken for TCP by someone else: then another one is picked.
        let mut tries = 0;
        loop {
            let udp = bind_udp(addr)?;
            let local = udp.local_addr()?;
            match TcpListener::bind(local).await {
                Ok(tcp) => {
                    return Ok(SipDriver {
                        udp: Arc::new(udp),
                        tcp,
                        tls: None,
                    })
                }
                Err(e)
                    if addr.port() == 0
                        && e.kind() == std::io::ErrorKind::AddrInUse
                        && tries < 16 =>
                {
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Adds the SIP-over-TLS listener on its own port: connections share
    /// the TCP framing and routing, messages carry `Transport::Tls`.
    pub async fn with_tls(
        mut self,
        addr: SocketAddr,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        self.tls = Some(TlsListener {
            listener: TcpListener::bind(addr).await?,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
        });
        Ok(self)
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// The TLS listener's address, when there is one.
    pub fn tls_local_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref()?.listener.local_addr().ok()
    }

    /// Runs until `shutdown` turns true. Commands arrive on `cmd_rx`, whose
    /// sender is `ctx.commands`.
    pub async fn run(
        self,
        ctx: DriverContext,
        mut cmd_rx: mpsc::UnboundedReceiver<SipCommand>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (tcp_tx, mut tcp_rx) = mpsc::unbounded_channel::<StreamInput>();
        let limits = &ctx.sources.limits;
        let mut state = State {
            gate: SourceGate::new(ctx.sources.clone(), ctx.source_metrics.clone()),
            tcp: TcpGuard::new(limits.tcp_connections_per_source, ctx.sources.tcp_idle()),
            tcp_conns: HashMap::new(),
            call_conns: HashMap::new(),
            tls_local: self.tls_local_addr(),
            layer: SipLayer::new(TimerConfig::default(), ctx.config.user_agent.clone()),
            udp: self.udp.clone(),
            ctx,
            calls: HashMap::new(),
            invite_txs: HashMap::new(),
            call_invites: HashMap::new(),
            client_txs: HashMap::new(),
            draining: false,
        };
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf = vec![0u8; 65_536];
        let mut next_conn = 1u64;
        let mut drain_until: Option<Instant> = None;
        loop {
            state.flush().await;
            let deadline = state.layer.poll_timeout().map(Instant::from_std);
            tokio::select! {
                r = self.udp.recv_from(&mut buf) => {
                    if let Ok((n, addr)) = r {
                        let peer = Peer { addr, transport: Transport::Udp, conn: None };
                        state.incoming(peer, &buf[..n]);
                    }
                }
                r = self.tcp.accept() => {
                    if let Ok((stream, addr)) = r {
                        let conn = next_conn;
                        next_conn += 1;
                        let ip = addr.ip().to_canonical();
                        let capped = state.gate.limited(ip);
                        if state.tcp.open(std::time::Instant::now(), conn, ip, capped) {
                            state.tcp_conns.insert(conn, spawn_stream(conn, addr, Transport::Tcp, stream, tcp_tx.clone()));
                        } else {
                            // Over the source's cap: closed at once (dropped).
                            state.gate.metrics().rejected(Rejected::TcpCap);
                        }
                    }
                }
                Some((stream, addr)) = accept(self.tls.as_ref()) => {
                    if let Some(tls) = &self.tls {
                        let conn = next_conn;
                        next_conn += 1;
                        let ip = addr.ip().to_canonical();
                        let capped = state.gate.limited(ip);
                        if !state.tcp.open(std::time::Instant::now(), conn, ip, capped) {
                            // Over the source's cap: closed before the handshake.
                            state.gate.metrics().rejected(Rejected::TcpCap);
                        } else {
                        let acceptor = tls.acceptor.clone();
                        let metrics = state.ctx.metrics.clone();
                        let to_driver = tcp_tx.clone();
                        tokio::spawn(async move {
                            match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => {
                                    metrics.sip_tls_connections.inc();
                                    let handle = spawn_stream(conn, addr, Transport::Tls, stream, to_driver.clone());
                                    let _ = to_driver.send(StreamInput::Opened { conn, handle });
                                }
                                Ok(Err(e)) => {
                                    metrics.sip_tls_handshake_failures.inc();
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    let _ = to_driver.send(StreamInput::Closed { conn });
                                }
                                Err(_) => {
                                    metrics.sip_tls_handshake_failures.inc();
                                    tracing::debug!("TLS handshake timed out");
                                    let _ = to_driver.send(StreamInput::Closed { conn });
                                }
                            }
                        });
                        }
                    }
                }
                Some(input) = tcp_rx.recv() => match input {
                    StreamInput::Closed { conn } => {
                        state.tcp_conns.remove(&conn);
                        state.tcp.closed(conn);
                    }
                    StreamInput::Opened { conn, handle } => { state.tcp_conns.insert(conn, handle); }
                    StreamInput::Frame { conn, addr, transport, bytes } => {
                        state.tcp.message(std::time::Instant::now(), conn);
                        let peer = Peer { addr, transport, conn: Some(conn) };
                        state.incoming(peer, &bytes);
                    }
                },
                _ = housekeeping.tick() => state.housekeeping(),
                Some(cmd) = cmd_rx.recv() => state.command(cmd),
                _ = sleep_until(deadline) => state.layer.handle_timeout(std::time::Instant::now()),
                _ = shutdown.changed(), if drain_until.is_none() => {
                    if *shutdown.borrow() {
                        // Hang up every live call so peers are not left with dead media,
                        // and keep serving until the BYEs are out.
                        state.draining = true;
                        for call in state.calls.values() {
                            let _ = call.send(CallInput::Shutdown);
                        }
                        drain_until = Some(Instant::now() + DRAIN);
                    }
                }
                _ = sleep_until(drain_until) => break,
            }
            if state.draining && state.calls.is_empty() && state.client_txs.is_empty() {
                state.flush().await;
                break;
            }
        }
    }
}

/// The next connection on the TLS listener; never, without one.
async fn accept(tls: Option<&TlsListener>) -> Option<(TcpStream, SocketAddr)> {
    match tls {
        Some(t) => t.listener.accept().await.ok(),
        None => std::future::pending().await,
    }
}

/// Runs one stream connection (TCP, or TLS after its handshake): frames
/// what it reads for the driver and writes what the driver sends.
fn spawn_stream<S>(
    conn: u64,
    addr: SocketAddr,
    transport: Transport,
    stream: S,
    to_driver: mpsc::UnboundedSender<StreamInput>,
) -> TcpConn
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, mut write) = tokio::io::split(stream);
    let (writer, mut outbound) = mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Some(bytes) = outbound.recv().await {
            // TLS buffers inside the stream: flush so the message leaves now.
            if write.write_all(&bytes).await.is_err() || write.flush().await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    });
    let reader = tokio::spawn(async move {
        let mut frames = FramedRead::new(read, crate::sip::framing::SipDecoder);
        while let Some(Ok(frame)) = frames.next().await {
            if to_driver
                .send(StreamInput::Frame {
                    conn,
                    addr,
                    transport,
                    bytes: frame.freeze(),
                })
                .is_err()
            {
                return;
            }
        }
        // A framing error or EOF ends the connection (RFC 3261 section 18.3).
        let _ = to_driver.send(StreamInput::Closed { conn });
    });
    TcpConn {
        writer,
        reader: reader.abort_handle(),
    }
}

struct State {
    layer: SipLayer,
    /// ACL and per-source limits, asked before a server transaction exists.
    gate: SourceGate,
    tcp: TcpGuard,
    tcp_conns: HashMap<u64, TcpConn>,
    /// The TCP connection each call's dialog uses (kept open however quiet).
    call_conns: HashMap<String, u64>,
    udp: Arc<UdpSocket>,
    /// The TLS listener's address (for the Contact of calls that came over TLS).
    tls_local: Option<SocketAddr>,
    ctx: DriverContext,
    calls: HashMap<String, mpsc::UnboundedSender<CallInput>>,
    invite_txs: HashMap<TxId, String>,
    call_invites: HashMap<String, TxId>,
    client_txs: HashMap<TxId, String>,
    /// Stopping: new calls get 503.
    draining: bool,
}

impl State {
    /// One datagram or TCP frame, through the gate into the layer.
    fn incoming(&mut self, peer: Peer, bytes: &[u8]) {
        let now = std::time::Instant::now();
        let gate = &mut self.gate;
        self.layer
            .handle_message_gated(now, peer, bytes, &mut |p, r, i| gate.decide(now, p, r, i));
    }

    /// Forgets idle sources; closes TCP connections idle for `tcp_idle_seconds`
    /// that no call and no phone registration uses.
    fn housekeeping(&mut self) {
        let now = std::time::Instant::now();
        self.gate.tick(now);
        let mut in_use: HashSet<u64> = self.call_conns.values().copied().collect();
        in_use.extend(self.ctx.nurse_phones.connections(now));
        for conn in self.tcp.idle(now, |c| in_use.contains(&c)) {
            self.tcp.closed(conn);
            if self.tcp_conns.remove(&conn).is_some() {
                self.ctx.source_metrics.tcp_idle_closed.inc();
            }
        }
    }

    async fn flush(&mut self) {
        loop {
            while let Some(t) = self.layer.poll_transmit() {
                match (t.peer.transport, t.peer.conn) {
                    (Transport::Tcp | Transport::Tls, Some(conn)) => {
                        if let Some(c) = self.tcp_conns.get(&conn) {
                            let _ = c.writer.send(t.bytes);
                        }
                    }
                    // We open no TLS connections: never fall back to plain UDP.
                    (Transport::Tls, None) => {
                        tracing::debug!("no TLS connection to send on: message dropped");
                    }
                    _ => {
                        let _ = self.udp.send_to(&t.bytes, t.peer.addr).await;
                    }
                }
            }
            match self.layer.poll_event() {
                Some(ev) => self.event(ev),
                None => break,
            }
        }
    }

    fn respond(&mut self, tx: TxId, req: &rsip::Request, status: u16, extra: &[(&str, String)]) {
        let mut resp = message::response_to(req, status, Some(&new_tag()));
        for (name, value) in extra {
            message::add_header(&mut resp.headers, name, value.clone());
        }
        let _ = self.layer.respond(std::time::Instant::now(), tx, resp);
    }

    fn event(&mut self, ev: SipEvent) {
        match ev {
            SipEvent::Request {
                tx,
                request,
                info,
                peer,
            } => self.request(tx, request, info, peer),
            SipEvent::Ack { request, info, .. } => {
                if let Some(call) = self.calls.get(&info.call_id) {
                    let _ = call.send(CallInput::Ack { request });
                }
            }
            SipEvent::Cancelled { invite_tx, .. } => {
                if let Some(call) = self
                    .invite_txs
                    .get(&invite_tx)
                    .and_then(|id| self.calls.get(id))
                {
                    let _ = call.send(CallInput::Cancelled);
                }
            }
            SipEvent::AckTimeout { tx } => {
                if let Some(call) = self.invite_txs.get(&tx).and_then(|id| self.calls.get(id)) {
                    let _ = call.send(CallInput::AckTimeout);
                }
            }
            SipEvent::Response {
                tx, response, info, ..
            } => {
                // By transaction while it runs; by Call-ID for 2xx retransmissions
                // after it (the outbound leg re-sends its ACK).
                let call_id = tx
                    .and_then(|t| self.client_txs.get(&t))
                    .unwrap_or(&info.call_id);
                if let Some(call) = self.calls.get(call_id) {
                    let _ = call.send(CallInput::Response {
                        response: Box::new(response),
                        info: Box::new(info.clone()),
                    });
                }
                if let (Some(tx), true) = (tx, info.status >= 200) {
                    self.client_txs.remove(&tx);
                }
            }
            SipEvent::Timeout { tx } => {
                if let Some(call) = self
                    .client_txs
                    .remove(&tx)
                    .and_then(|id| self.calls.get(&id))
                {
                    let _ = call.send(CallInput::Timeout);
                }
            }
        }
    }

    fn request(&mut self, tx: TxId, request: rsip::Request, info: RequestInfo, peer: Peer) {
        let in_dialog = info.to_tag.is_some();
        if let Some(call) = self.calls.get(&info.call_id).filter(|_| in_dialog) {
            let _ = call.send(CallInput::Request {
                tx,
                request: Box::new(request),
                info: Box::new(info),
            });
            return;
        }
        match info.method {
            Method::Invite if !in_dialog => self.new_call(tx, request, info, peer),
            Method::Options => match self.ctx.readiness.check() {
                Ok(()) => {
                    let extra = [
                        ("Allow", ALLOW.to_string()),
                        ("Accept", "application/sdp".to_string()),
                    ];
                    self.respond(tx, &request, 200, &extra);
                }
                Err(e) => {
                    // Why, in general terms only: the sender may be anyone.
                    let why = match e {
                        NotReady::Draining => "draining",
                        NotReady::Store { .. } => "not ready",
                    };
                    let mut resp = stateless::with_reason(
                        message::response_to(&request, 503, Some(&new_tag())),
                        why,
                    );
                    let retry = self.ctx.config.retry_after_seconds.to_string();
                    message::add_header(&mut resp.headers, "Retry-After", retry);
                    let _ = self.layer.respond(std::time::Instant::now(), tx, resp);
                }
            },
            Method::Register if !in_dialog => self.register(tx, request, info, peer),
            m if KNOWN_NOT_ALLOWED.contains(&m) && !in_dialog => {
                self.respond(tx, &request, 405, &[("Allow", ALLOW.to_string())]);
            }
            Method::Invite | Method::Bye | Method::Info | Method::Update | Method::Cancel => {
                self.respond(tx, &request, 481, &[]);
            }
            _ => self.respond(tx, &request, 501, &[("Allow", ALLOW.to_string())]),
        }
    }

    /// Nurse phones register here; the secret comes from the store, so the
    /// answer is given when the lookup returns (`SipCommand::Register`).
    fn register(&mut self, tx: TxId, request: rsip::Request, info: RequestInfo, peer: Peer) {
        let user = crate::sip::registrations::Registrar::user_of(&info).map(str::to_string);
        let store = self.ctx.store.clone();
        let commands = self.ctx.commands.clone();
        tokio::spawn(async move {
            let ha1 = match &user {
                Some(u) => store.sip_ha1(u).await.ok().flatten(),
                None => None,
            };
            let _ = commands.send(SipCommand::Register {
                tx,
                request: Box::new(request),
                info: Box::new(info),
                peer,
                ha1,
            });
        });
    }

    fn new_call(&mut self, tx: TxId, request: rsip::Request, info: RequestInfo, peer: Peer) {
        let user = uri_user(&info.uri).unwrap_or("");
        if !self.ctx.config.is_entrance(user) {
            let resp = stateless::with_reason(
                message::response_to(&request, 404, Some(&new_tag())),
                "not an entrance number of this service",
            );
            let _ = self.layer.respond(std::time::Instant::now(), tx, resp);
            return;
        }
        if self.calls.contains_key(&info.call_id) {
            // A second INVITE with a Call-ID we already serve but a new branch: a loop or a fork.
            self.respond(tx, &request, 482, &[]);
            return;
        }
        let draining = self.draining || self.ctx.readiness.is_draining();
        let retry_after = [(
            "Retry-After",
            self.ctx.config.retry_after_seconds.to_string(),
        )];
        if draining || self.calls.len() >= self.ctx.config.max_concurrent_calls {
            self.ctx.metrics.calls_rejected_overload.inc();
            self.respond(tx, &request, 503, &retry_after);
            return;
        }
        // The database cannot take a case: answered only to go to the
        // fallback destination; without one, another node (or a later try)
        // is the caller's best chance.
        let store_down = matches!(self.ctx.readiness.check(), Err(NotReady::Store { .. }));
        if store_down && self.ctx.config.fallback().is_none() {
            self.ctx.metrics.calls_rejected_not_ready.inc();
            self.respond(tx, &request, 503, &retry_after);
            return;
        }
        let (input_tx, input_rx) = mpsc::unbounded_channel();
        if let Some(conn) = peer.conn {
            self.call_conns.insert(info.call_id.clone(), conn);
        }
        let identity_trusted = self.ctx.sources.trusts_identity(peer.addr.ip());
        self.calls.insert(info.call_id.clone(), input_tx);
        self.invite_txs.insert(tx, info.call_id.clone());
        self.call_invites.insert(info.call_id.clone(), tx);
        let new_call = NewCall {
            tx,
            request,
            info,
            peer,
            local_sip: self.udp.local_addr().ok(),
            tls_port: self.tls_local.map(|a| a.port()),
            store_down,
            identity_trusted,
        };
        self.ctx
            .calls
            .start(new_call, input_rx, self.ctx.commands.clone());
    }

    fn command(&mut self, cmd: SipCommand) {
        let now = std::time::Instant::now();
        match cmd {
            SipCommand::Respond { tx, response } => {
                let _ = self.layer.respond(now, tx, response);
            }
            SipCommand::Request {
                call_id,
                peer,
                request,
            } => {
                if let Some(conn) = peer.conn {
                    self.call_conns.insert(call_id.clone(), conn);
                }
                if let Ok(tx) = self.layer.send_request(now, peer, request) {
                    self.client_txs.insert(tx, call_id);
                }
            }
            SipCommand::Attach { call_id, inbox } => {
                self.calls.insert(call_id, inbox);
            }
            SipCommand::Register {
                tx,
                request,
                info,
                peer,
                ha1,
            } => {
                let response = self.ctx.nurse_phones.handle_register(
                    now,
                    &request,
                    &info,
                    peer,
                    ha1.as_deref(),
                );
                let _ = self.layer.respond(now, tx, response);
            }
            SipCommand::Stateless { peer, message } => {
                self.layer.send_stateless(peer, &message);
            }
            SipCommand::Ended { call_id } => {
                self.calls.remove(&call_id);
                self.call_conns.remove(&call_id);
                if let Some(tx) = self.call_invites.remove(&call_id) {
                    self.invite_txs.remove(&tx);
                }
            }
        }
    }
}
