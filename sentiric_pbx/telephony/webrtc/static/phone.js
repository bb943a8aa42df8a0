// The browser phone: one call at a time, signalling and transcript over one WebSocket (see webrtc.py).
// window.phone is the page's state, read by the end-to-end test: callId, ended, endedBy, turns,
// connectedAt and firstAgentAudioAt (ms on performance.now(), from the inbound RTP audio level).
"use strict";

const $ = (id) => document.getElementById(id);
const phone = (window.phone = { callId: null, ended: false, endedBy: null, reason: null, turns: [],
                                 connectedAt: null, firstAgentAudioAt: null, error: null });
let ws = null;
let pc = null;
let statsTimer = null;

// `?caller=+905551112233`: read by hand, because URLSearchParams turns the "+" into a space.
const callerParam = /[?&]caller=([^&]*)/.exec(location.search);
$("caller").value = callerParam ? decodeURIComponent(callerParam[1]) : "";

function status(text) { $("status").textContent = text; }

function showTurn(who, text) {
  phone.turns.push({ who, text });
  const li = document.createElement("li");
  li.className = who;
  const label = document.createElement("b");
  label.textContent = who === "agent" ? "Agent" : "You";
  li.append(label, document.createTextNode(text));
  $("transcript").append(li);
}

function gathered(peer) {
  // No trickle ICE: the offer goes out once with every candidate in it.
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    peer.addEventListener("icegatheringstatechange", () => {
      if (peer.iceGatheringState === "complete") resolve();
    });
  });
}

async function watchAgentAudio() {
  // When the agent's first voiced audio reaches us: the greeting latency as this browser saw it.
  if (!pc || phone.firstAgentAudioAt !== null) return;
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio" && s.audioLevel > 0.01 && phone.firstAgentAudioAt === null) {
      phone.firstAgentAudioAt = performance.now();
    }
  });
}

function finish(by, reason) {
  if (phone.ended) return;
  phone.ended = true;
  phone.endedBy = by;
  phone.reason = reason;
  clearInterval(statsTimer);
  if (pc) pc.close();
  if (ws && ws.readyState === WebSocket.OPEN) ws.close(1000);
  status(by === "agent" ? "The agent hung up." : by === "error" ? `Call failed: ${reason}` : "Call ended.");
  const button = $("call");
  button.textContent = "Call";
  button.className = "";
  button.disabled = false;
}

async function call() {
  Object.assign(phone, { callId: null, ended: false, endedBy: null, reason: null, turns: [],
                         connectedAt: null, firstAgentAudioAt: null, error: null });
  $("transcript").replaceChildren();
  $("call-id").textContent = "";
  const button = $("call");
  button.disabled = true;
  status("Asking for the microphone…");
  // Echo cancellation stays on (the agent may come out of speakers); noise suppression is off because
  // it eats the quiet ends of words the recognizer needs, and the daemon's VAD copes with room noise.
  const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: false } });
  pc = new RTCPeerConnection({ iceServers: [] });
  mic.getTracks().forEach((t) => pc.addTrack(t, mic));
  pc.addEventListener("track", (e) => { $("remote").srcObject = e.streams[0] || new MediaStream([e.track]); });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  status("Calling…");
  const url = new URL("phone/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = "";
  ws = new WebSocket(url);
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp, caller: $("caller").value.trim() }));
  });
  ws.addEventListener("message", async (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "answer") {
      phone.callId = msg.call_id;
      phone.answerSdp = msg.sdp;
      $("call-id").textContent = msg.call_id;
      await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
    } else if (msg.type === "connected") {
      phone.connectedAt = performance.now();
      statsTimer = setInterval(watchAgentAudio, 50);
      status("Connected.");
      button.textContent = "Hang up";
      button.className = "hangup";
      button.disabled = false;
    } else if (msg.type === "turn") {
      showTurn(msg.who, msg.text);
    } else if (msg.type === "hangup") {
      finish(msg.by, msg.reason);
    } else if (msg.type === "error") {
      phone.error = msg.error;
      finish("error", msg.error);
    }
  });
  ws.addEventListener("close", () => finish(phone.error ? "error" : "caller", phone.reason || "socket_closed"));
}

// The keypad: digits, * and # typed on the keyboard go to the agent as DTMF while a call is up.
phone.press = (digit) => {
  if (ws && ws.readyState === WebSocket.OPEN && phone.connectedAt !== null && !phone.ended) {
    ws.send(JSON.stringify({ type: "dtmf", digit }));
  }
};
document.addEventListener("keydown", (e) => {
  if (/^[0-9*#]$/.test(e.key) && e.target.tagName !== "INPUT") phone.press(e.key);
});

$("call").addEventListener("click", () => {
  if (ws && !phone.ended) {
    ws.send(JSON.stringify({ type: "hangup" }));
    finish("caller", "hangup");
    return;
  }
  call().catch((err) => { phone.error = String(err); finish("error", String(err)); });
});
