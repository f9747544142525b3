// seedcore status page: polls the JSON API and draws the node at a glance.
// No framework, no build step: this file is served as it is.
"use strict";

(function () {
  const POLL_MS = 2000;
  // A token, when the API needs one, comes in the URL fragment
  // (#token=...), which the browser never sends to the server.
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  const headers = token ? { Authorization: "Bearer " + token } : {};

  const $ = (id) => document.getElementById(id);

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (n >= 1024 && i + 1 < units.length) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
  }
  const rate = (n) => bytes(n) + "/s";

  function duration(s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + (s % 60) + "s";
    return s + "s";
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  async function get(path) {
    const r = await fetch(path, { headers, cache: "no-store" });
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { msg = (await r.json()).error.message; } catch (_) { /* not JSON */ }
      throw new Error(path + ": " + msg);
    }
    return r.json();
  }

  function drawSummary(s, torrents) {
    $("rate").textContent = rate(s.upload_rate);
    $("peers").textContent = s.peers;
    $("sent").textContent = bytes(s.bytes_sent);
    $("ntorrents").textContent = torrents.length;
    $("uptime").textContent = duration(s.uptime);
  }

  function drawTorrents(torrents) {
    const body = $("torrents").tBodies[0];
    body.replaceChildren();
    const sorted = torrents.slice().sort((a, b) => b.upload_rate - a.upload_rate || b.uploaded - a.uploaded);
    for (const t of sorted) {
      const row = body.insertRow();
      row.dataset.infoHash = t.info_hash;
      cell(row, t.name, "name");
      const code = document.createElement("code");
      code.textContent = t.info_hash.slice(0, 16) + "…";
      code.title = t.info_hash;
      row.insertCell().appendChild(code);
      cell(row, t.state === "checking" && t.progress !== null
        ? "checking " + (100 * t.progress).toFixed(0) + "%" : t.state, "state");
      cell(row, t.peers, "n");
      cell(row, rate(t.upload_rate), "n");
      cell(row, bytes(t.uploaded), "n");
    }
  }

  function drawShards(shards) {
    const body = $("shards").tBodies[0];
    body.replaceChildren();
    const most = Math.max(1, ...shards.map((s) => s.upload_rate));
    for (const s of shards) {
      const row = body.insertRow();
      cell(row, s.shard);
      cell(row, s.peers, "n");
      cell(row, rate(s.upload_rate), "n");
      cell(row, (100 * s.cpu).toFixed(0) + "%", "n");
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = (100 * s.upload_rate / most).toFixed(1) + "%";
      bar.appendChild(fill);
      row.insertCell().appendChild(bar);
    }
  }

  // The chart spans exactly the last 600 s: x from time, y from rate.
  function drawChart(samples) {
    const W = 800, H = 200, SPAN = 600;
    const now = samples.length ? samples[samples.length - 1].time : Date.now() / 1000;
    const top = Math.max(1024, ...samples.map((s) => s.upload_rate)) * 1.1;
    const x = (t) => (W * (1 - (now - t) / SPAN)).toFixed(1);
    const y = (r) => (H - H * r / top).toFixed(1);
    const pts = samples.filter((s) => now - s.time <= SPAN).map((s) => x(s.time) + "," + y(s.upload_rate));
    const line = $("upload-line");
    line.setAttribute("d", pts.length ? "M" + pts.join(" L") : "");
    line.dataset.points = pts.length;
    const area = $("upload-area");
    area.setAttribute("d", pts.length ? "M" + pts[0].split(",")[0] + "," + H + " L" + pts.join(" L") +
      " L" + pts[pts.length - 1].split(",")[0] + "," + H + " Z" : "");
    const grid = $("grid");
    grid.replaceChildren();
    for (let i = 1; i < 4; i++) {
      const l = document.createElementNS("http://www.w3.org/2000/svg", "line");
      l.setAttribute("x1", 0); l.setAttribute("x2", W);
      l.setAttribute("y1", H * i / 4); l.setAttribute("y2", H * i / 4);
      grid.appendChild(l);
    }
    $("chart-max").textContent = "top " + rate(top);
  }

  async function poll() {
    try {
      const [status, history, list] = await Promise.all([
        get("/api/v1/status"), get("/api/v1/history"),
        // States come from the torrent list; a node that cannot list
        // still shows its torrents from the status report.
        get("/api/v1/torrents").catch(() => null),
      ]);
      const states = new Map((list || []).map((t) => [t.info_hash, t]));
      const torrents = status.torrents.map((t) => {
        const info = states.get(t.info_hash);
        return Object.assign({}, t, {
          state: info ? info.state : "seeding",
          progress: info && info.verify ? info.verify.fraction : null,
        });
      });
      drawSummary(status, torrents);
      drawTorrents(torrents);
      drawShards(status.shards);
      drawChart(history);
      $("error").hidden = true;
      document.body.dataset.ready = "1";
      document.body.dataset.updated = String(status.time);
    } catch (e) {
      $("error").textContent = "cannot read the node: " + e.message;
      $("error").hidden = false;
    }
  }

  poll();
  setInterval(poll, POLL_MS);
})();
