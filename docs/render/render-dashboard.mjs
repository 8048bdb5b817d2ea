#!/usr/bin/env node
// Renders docs/dashboard.png from the real metrics of a local SyncWorker run. Run by hand, once, from the repository
// root (it is not a test):
//
//   dotnet build src/SyncWorker -c Release
//   node docs/render/render-dashboard.mjs [--minutes 4] [--out docs/dashboard.png]
//
// It needs Node 18+, the .NET SDK, Debian's rabbitmq-server (/usr/lib/rabbitmq/bin) and chromium
// (apt-get install -y rabbitmq-server chromium); nothing from npm. What it does:
//
//   1. starts a private RabbitMQ node (own node name, free loopback ports, temporary data folder), as
//      tests/SyncWorker.Testing/RabbitMqNode.cs does;
//   2. starts two stand-in fulfillment targets on one small HTTP server: "warehouse" answers 200, sometimes 503 and
//      now and then 400; "erp" answers 200, except for an outage in the middle of the run (503 only);
//   3. starts the built worker (src/SyncWorker/bin/Release/net10.0/SyncWorker.dll, role All) against them, with a
//      short redelivery schedule and a sensitive circuit breaker so that retries and an open circuit show in minutes;
//   4. posts signed checkout.session.completed events (signed as Stripe does, like deploy/dev/send-test-event.sh),
//      a few ignored ones (invoice.paid, answered 200 unqueued), and during one window half of them signed with a wrong secret (a secret
//      rotated wrongly);
//   5. scrapes GET /metrics and GET /health/ready every 5 s;
//   6. computes the dashboard's series from the scrapes as Prometheus would (rate over 30 s windows,
//      histogram_quantile with linear interpolation within buckets, max by labels), draws them as SVG panels in an
//      HTML page, and has headless chromium screenshot it.
//
// The scrapes are kept next to the PNG as <out>.scrapes.json.gz; `--from-scrapes FILE` draws again from such a file
// without a new run. `--keep-html` keeps the page next to the PNG.

import { spawn, spawnSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from "node:fs";
import { createServer } from "node:http";
import { createServer as createTcpServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) =>
  arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1] && !all[i + 1].startsWith("--") ? all[i + 1] : true]] : pairs, []));
const minutes = Number(args.minutes ?? 4);
const out = resolve(root, args.out ?? "docs/dashboard.png");
const scrapeEverySeconds = 5;
const rateWindowSeconds = 30;
const rabbitBin = "/usr/lib/rabbitmq/bin";
const workerDll = join(root, "src/SyncWorker/bin/Release/net10.0/SyncWorker.dll");
const secret = "whsec_render_dashboard_only_0001";
const wrongSecret = "whsec_rotated_wrongly_0002";
const targetSecret = "whsec_" + Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1)).toString("base64");

if (spawnSync("chromium", ["--version"]).status !== 0) fail("needs chromium (apt-get install -y chromium)");

const work = mkdtempSync(join(tmpdir(), "syncworker-render-"));
const children = [];
const log = (message) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
process.on("SIGINT", () => { cleanup(); process.exit(130); });

async function run() {
  for (const [what, path] of [["rabbitmq-server", join(rabbitBin, "rabbitmq-server")], ["the Release build of the worker (dotnet build src/SyncWorker -c Release)", workerDll]]) {
    if (!existsSync(path)) fail(`needs ${what}: ${path} not found`);
  }
  // 1. RabbitMQ
  const amqpPort = await freePort();
  const node = `swrender${process.pid}@localhost`;
  const rabbitEnv = {
    ...process.env,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(await freePort()),
    RABBITMQ_MNESIA_BASE: join(work, "mnesia"),
    RABBITMQ_LOG_BASE: join(work, "log"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(work, "enabled_plugins"),
    RABBITMQ_CONFIG_FILE: join(work, "rabbitmq"),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(work, "advanced.config"),
  };
  writeFileSync(join(work, "enabled_plugins"), "[].");
  log(`starting RabbitMQ node ${node} on 127.0.0.1:${amqpPort}`);
  const rabbit = start(join(rabbitBin, "rabbitmq-server"), [], { env: rabbitEnv }, join(work, "rabbitmq.out"));
  rabbit.stopWith = () => spawnSync(join(rabbitBin, "rabbitmqctl"), ["-n", node, "stop"], { env: rabbitEnv, timeout: 30000 });
  await until(() => tcpOpen(amqpPort), 90, "RabbitMQ accepting AMQP connections");
  // A plain TCP accept comes before the broker is ready for clients; wait for the application as well.
  spawnSync(join(rabbitBin, "rabbitmqctl"), ["-n", node, "await_startup"], { env: rabbitEnv, timeout: 90000 });

  // 2. Targets
  let clock0 = Date.now(); // reset when the traffic starts: the outage and the rotation are timed from there
  const outage = { from: 0.35 * minutes * 60, to: 0.6 * minutes * 60 }; // seconds into the run: erp answers 503
  const targets = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const elapsed = (Date.now() - clock0) / 1000;
      const name = request.url.split("/").pop();
      let status = 200;
      if (name === "warehouse") {
        const roll = Math.random();
        status = roll < 0.03 ? 400 : roll < 0.15 ? 503 : 200;
      } else if (name === "erp" && elapsed >= outage.from && elapsed < outage.to) {
        status = 503;
      }
      setTimeout(() => response.writeHead(status, { "Content-Type": "application/json" }).end(status === 200 ? '{"ok":true}' : '{"error":"stand-in"}'),
        15 + Math.random() * 60);
    });
  });
  const targetPort = await freePort();
  await new Promise((ok) => targets.listen(targetPort, "127.0.0.1", ok));
  children.push({ kill: () => targets.close() });
  const targetBase = `http://127.0.0.1:${targetPort}/fulfillment/`;

  // 3. Worker
  const manifest = JSON.parse(readFileSync(join(root, "manifest/stripe-app.json"), "utf8"));
  manifest.ui_extension.content_security_policy["connect-src"] = [targetBase];
  const manifestPath = join(work, "stripe-app.json");
  writeFileSync(manifestPath, JSON.stringify(manifest));
  const workerPort = await freePort();
  const workerUrl = `http://127.0.0.1:${workerPort}`;
  const targetEnv = (i, name, extra) => Object.fromEntries(Object.entries({
    Name: name, Url: targetBase + name, "Events__0": "checkout.session.*", Mode: "live", Format: "event", SigningSecret: targetSecret,
    "Retry__MaxRetryAttempts": "2", "Retry__BaseDelaySeconds": "0.2", "Retry__MaxDelaySeconds": "1",
    "Redelivery__DelaysSeconds__0": "5", "Redelivery__DelaysSeconds__1": "15", "Redelivery__DelaysSeconds__2": "30",
    "CircuitBreaker__MinimumThroughput": "8", "CircuitBreaker__SamplingDurationSeconds": "10", "CircuitBreaker__BreakDurationSeconds": "5",
    ...extra,
  }).map(([key, value]) => [`Fulfillment__Targets__${i}__${key}`, value]));
  log(`starting the worker on ${workerUrl}`);
  const worker = start("dotnet", [workerDll], {
    cwd: root,
    env: {
      ...process.env,
      ASPNETCORE_ENVIRONMENT: "Production",
      ASPNETCORE_URLS: workerUrl,
      RabbitMq__Uri: `amqp://guest:guest@127.0.0.1:${amqpPort}/`,
      Stripe__WebhookSecrets__0: secret,
      Manifest__Path: manifestPath,
      Worker__Role: "All",
      ...targetEnv(0, "warehouse", {}),
      ...targetEnv(1, "erp", {}),
    },
  }, join(work, "worker.out"));
  await until(async () => (await get(`${workerUrl}/health/ready`)).status === 200, 60, "the worker ready");

  // 4. and 5. Traffic and scrapes
  const template = readFileSync(join(root, "tests/SyncWorker.Testing/Fixtures/events/checkout.session.completed.json"), "utf8");
  const forbidden = readFileSync(join(root, "tests/SyncWorker.Testing/Fixtures/events/invoice.paid.json"), "utf8");
  const rotation = { from: 0.72 * minutes * 60, to: 0.85 * minutes * 60 }; // half the events signed with a wrong secret
  const scrapes = [];
  const runSeconds = minutes * 60;
  const runStart = Date.now();
  clock0 = runStart;
  let sent = 0;
  const scraper = (async () => {
    while ((Date.now() - runStart) / 1000 < runSeconds + 20) {
      const at = Date.now();
      const [metrics, ready] = await Promise.all([get(`${workerUrl}/metrics`), get(`${workerUrl}/health/ready`)]);
      if (metrics.status === 200) scrapes.push({ t: at / 1000, ready: ready.status === 200 ? 1 : 0, samples: parse(metrics.body) });
      await sleep(scrapeEverySeconds * 1000 - (Date.now() - at));
    }
  })();
  log(`sending traffic for ${minutes} minutes (erp down ${outage.from}-${outage.to} s, wrong secret ${rotation.from.toFixed(0)}-${rotation.to.toFixed(0)} s)`);
  while ((Date.now() - runStart) / 1000 < runSeconds) {
    const elapsed = (Date.now() - runStart) / 1000;
    const perSecond = 4 + 3 * Math.sin(elapsed / 40) + Math.random() * 2;
    const batch = [];
    for (let i = 0; i < Math.round(perSecond); i++) {
      const wrong = elapsed >= rotation.from && elapsed < rotation.to && Math.random() < 0.5;
      const body = Math.random() < 0.03 ? forbidden : withFreshIdAndCreated(template);
      batch.push(post(`${workerUrl}/webhooks/stripe`, body, wrong ? wrongSecret : secret));
      sent++;
    }
    await Promise.all(batch);
    await sleep(1000 - ((Date.now() - runStart) % 1000));
  }
  log(`sent ${sent} webhooks; letting the last deliveries and samples arrive`);
  await scraper;
  log(`${scrapes.length} scrapes`);
  const recorded = { run: { minutes, sent, outage, rotation, date: new Date(runStart).toISOString().slice(0, 16).replace("T", " ") + " UTC" }, scrapes };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out.replace(/\.png$/, "") + ".scrapes.json.gz", gzipSync(JSON.stringify(recorded)));
  return recorded;
}

// 6. Draw
function draw({ run: details, scrapes }) {
  const html = page(scrapes, details);
  const htmlPath = join(work, "dashboard.html");
  writeFileSync(htmlPath, html);
  if (args["keep-html"]) writeFileSync(out.replace(/\.png$/, ".html"), html);
  mkdirSync(dirname(out), { recursive: true });
  const shot = spawnSync("chromium", [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars", `--user-data-dir=${join(work, "chromium")}`,
    `--screenshot=${out}`, `--window-size=${PAGE_WIDTH},${pageHeight}`, `file://${htmlPath}`,
  ], { encoding: "utf8", timeout: 120000 });
  if (!existsSync(out)) fail(`chromium wrote no screenshot: ${shot.stderr}`);
  log(`wrote ${out}`);
}

// ---------------------------------------------------------------- Stripe signing and HTTP

function withFreshIdAndCreated(text) {
  const id = "evt_render" + randomBytes(10).toString("hex");
  return text.replace(/"id": "evt_[A-Za-z0-9]*"/, `"id": "${id}"`).replace(/"created": [0-9]+/, `"created": ${Math.floor(Date.now() / 1000)}`);
}

async function post(url, body, signingSecret) {
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac("sha256", signingSecret).update(`${t}.${body}`).digest("hex");
  try {
    const response = await fetch(url, { method: "POST", body, headers: { "Content-Type": "application/json", "Stripe-Signature": `t=${t},v1=${v1}` } });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

async function get(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(4000) });
    return { status: response.status, body: await response.text() };
  } catch {
    return { status: 0, body: "" };
  }
}

// ---------------------------------------------------------------- processes and ports

function start(command, argv, options, logPath) {
  const child = spawn(command, argv, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  const sink = createWriteStream(logPath);
  child.stdout.pipe(sink);
  child.stderr.pipe(sink);
  child.on("exit", (code) => { child.exited = true; if (code && !child.stopping) log(`${command} exited with ${code}; see ${logPath}`); });
  children.push(child);
  return child;
}

function cleanup() {
  for (const child of children.reverse()) {
    try {
      child.stopping = true;
      if (child.stopWith) child.stopWith();
      else if (child.kill && !child.exited) child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  children.length = 0;
  if (!args["keep-work"]) {
    try { rmSync(work, { recursive: true, force: true }); } catch { /* a leftover temp folder is harmless */ }
  }
}

function freePort() {
  return new Promise((ok) => {
    const server = createTcpServer();
    server.listen(0, "127.0.0.1", () => { const { port } = server.address(); server.close(() => ok(port)); });
  });
}

function tcpOpen(port) {
  return new Promise((ok) => {
    const socket = connect(port, "127.0.0.1");
    socket.on("connect", () => { socket.destroy(); ok(true); });
    socket.on("error", () => ok(false));
  });
}

async function until(condition, seconds, what) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(250);
  }
  fail(`timed out after ${seconds} s waiting for ${what}; logs in ${work}`);
}

function sleep(ms) { return new Promise((ok) => setTimeout(ok, Math.max(0, ms))); }

function fail(message) { console.error(`render-dashboard: ${message}`); process.exitCode = 1; throw new Error(message); }

// ---------------------------------------------------------------- Prometheus text and PromQL-like series

function parse(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match || !match[1].startsWith("syncworker_")) continue;
    const labels = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    delete labels.otel_scope_name;
    samples.push([match[1], labels, Number(match[3])]);
  }
  return samples;
}

const keyOf = (labels, by) => by.map((label) => labels[label] ?? "").join(" ");

/** sum by (by) (rate(metric{filter}[30s])) at every scrape; or, with rate false, max by (by) (metric{filter}). */
function series(scrapes, metric, by, { filter = () => true, rate = true, scale = 1 } = {}) {
  const out = new Map();
  scrapes.forEach((scrape, i) => {
    const back = scrapes.findIndex((s) => s.t >= scrape.t - rateWindowSeconds - 0.5);
    const values = new Map();
    for (const [name, labels, value] of scrape.samples) {
      if (name !== metric || !filter(labels)) continue;
      const key = keyOf(labels, by);
      if (rate) {
        if (back >= i) continue;
        const before = scrapes[back].samples.find(([n, l]) => n === name && JSON.stringify(l) === JSON.stringify(labels));
        const delta = value - (before ? before[2] : 0);
        values.set(key, (values.get(key) ?? 0) + Math.max(0, delta) / (scrape.t - scrapes[back].t));
      } else {
        values.set(key, Math.max(values.get(key) ?? -Infinity, value));
      }
    }
    for (const [key, value] of values) {
      if (!out.has(key)) out.set(key, []);
      out.get(key).push([scrape.t, value * scale]);
    }
  });
  return out;
}

/** histogram_quantile(q, sum by (le, by) (rate(metric_bucket{filter}[30s]))), as Prometheus interpolates it. */
function quantile(scrapes, q, metric, by, filter = () => true) {
  const buckets = series(scrapes, `${metric}_bucket`, [...by, "le"], { filter });
  const grouped = new Map();
  for (const [key, points] of buckets) {
    const parts = key.split(" ");
    const le = Number(parts.pop() === "+Inf" ? Infinity : key.split(" ").at(-1));
    const group = parts.join(" ");
    if (!grouped.has(group)) grouped.set(group, new Map());
    for (const [t, v] of points) {
      const at = grouped.get(group);
      if (!at.has(t)) at.set(t, []);
      at.get(t).push([le, v]);
    }
  }
  const out = new Map();
  for (const [group, byTime] of grouped) {
    const points = [];
    for (const [t, list] of [...byTime].sort((a, b) => a[0] - b[0])) {
      list.sort((a, b) => a[0] - b[0]);
      const total = list.at(-1)[1];
      if (!(total > 0)) continue;
      const rank = q * total;
      let i = list.findIndex(([, count]) => count >= rank);
      if (list[i][0] === Infinity) { points.push([t, list.at(-2)[0]]); continue; }
      const [upper, countUpper] = list[i];
      const [lower, countLower] = i > 0 ? list[i - 1] : [0, 0];
      points.push([t, lower + (upper - lower) * (countUpper - countLower === 0 ? 0 : (rank - countLower) / (countUpper - countLower))]);
    }
    out.set(group, points);
  }
  return out;
}

// ---------------------------------------------------------------- drawing

const PAGE_WIDTH = 1600;
const PANEL_HEIGHT = 300;
const ROWS = 5;
const pageHeight = 110 + ROWS * (PANEL_HEIGHT + 16) + 40;
const PALETTE = ["#73bf69", "#f2495c", "#5794f2", "#ff9830", "#b877d9", "#fade2a", "#8ab8ff", "#ff7383", "#96d98d", "#ffb357"];
const FIXED = { accepted: "#73bf69", bad_signature: "#f2495c", ignored: "#ff9830", delivered: "#73bf69", retry_scheduled: "#fade2a", dead_lettered: "#f2495c" };

function page(scrapes, run) {
  const t0 = scrapes[0].t;
  const t1 = scrapes.at(-1).t;
  const named = (map, format) => [...map].map(([key, points]) => ({ name: format(key), key, points }));
  const p = (title, subtitle, lines, options = {}) => ({ title, subtitle, lines, ...options });
  const readiness = [{ name: "ready (/health/ready 200)", points: scrapes.map((s) => [s.t, s.ready]) }];
  const panels = [
    p("Webhooks/s by outcome", "sum by (outcome) (rate(syncworker_webhooks_received_total[30s]))",
      named(series(scrapes, "syncworker_webhooks_received_total", ["outcome"]), (k) => k), { unit: "/s", stack: true }),
    p("Webhook answer latency p50 / p99 (accepted)", "histogram_quantile(…, syncworker_webhooks_duration_seconds_bucket{outcome=\"accepted\"})",
      [...named(quantile(scrapes, 0.5, "syncworker_webhooks_duration_seconds", [], (l) => l.outcome === "accepted"), () => "p50"),
        ...named(quantile(scrapes, 0.99, "syncworker_webhooks_duration_seconds", [], (l) => l.outcome === "accepted"), () => "p99")], { unit: "s" }),
    p("Deliveries/s by target and outcome", "sum by (target, outcome) (rate(syncworker_deliveries_total[30s]))",
      named(series(scrapes, "syncworker_deliveries_total", ["target", "outcome"]), (k) => k), { unit: "/s" }),
    p("HTTP attempts/s by status class", "sum by (target, status_class) (rate(syncworker_delivery_attempts_total[30s]))",
      named(series(scrapes, "syncworker_delivery_attempts_total", ["target", "status_class"]), (k) => k), { unit: "/s" }),
    p("Receipt → delivery p50 / p99 per target", "histogram_quantile(…, sum by (target, le) (rate(syncworker_delivery_receipt_to_delivery_seconds_bucket[30s])))",
      [...named(quantile(scrapes, 0.5, "syncworker_delivery_receipt_to_delivery_seconds", ["target"]), (k) => `${k} p50`),
        ...named(quantile(scrapes, 0.99, "syncworker_delivery_receipt_to_delivery_seconds", ["target"]), (k) => `${k} p99`)], { unit: "s", log: true }),
    p("Queue depth per target and state (sampled every 10 s)", "max by (target, state) (syncworker_queue_messages)",
      named(series(scrapes, "syncworker_queue_messages", ["target", "state"], { rate: false }), (k) => k), { unit: "" }),
    p("Retries scheduled and new dead letters per minute", "60 * sum by (target, outcome) (rate(syncworker_deliveries_total{outcome=~\"retry_scheduled|dead_lettered\"}[30s]))",
      named(series(scrapes, "syncworker_deliveries_total", ["target", "outcome"], { filter: (l) => l.outcome !== "delivered", scale: 60 }), (k) => k), { unit: "/min" }),
    p("Deliveries in flight · intake depth", "sum by (target) (syncworker_deliveries_in_flight) · max(syncworker_intake_messages)",
      [...named(series(scrapes, "syncworker_deliveries_in_flight", ["target"], { rate: false }), (k) => `${k} in flight`),
        ...named(series(scrapes, "syncworker_intake_messages", [], { rate: false }), () => "syncworker.intake ready")], { unit: "" }),
    p("Circuit open / paused per target", "max by (target) (syncworker_target_circuit_open) · max by (target) (syncworker_target_paused)",
      [...named(series(scrapes, "syncworker_target_circuit_open", ["target"], { rate: false }), (k) => `${k} circuit open`),
        ...named(series(scrapes, "syncworker_target_paused", ["target"], { rate: false }), (k) => `${k} paused`)], { unit: "", step: true, max: 1.2 }),
    p("Readiness", "GET /health/ready every 5 s (what the blackbox probe's probe_success reports)", readiness, { unit: "", step: true, max: 1.2 }),
  ];
  const svgs = panels.map((panel) => `<div class="panel"><h2>${esc(panel.title)}</h2><div class="q">${esc(panel.subtitle)}</div>${chart(panel, t0, t1, run)}</div>`);
  return `<!doctype html><html><head><meta charset="utf-8"><style>
    body { margin: 0; background: #111217; color: #ccccdc; font: 13px "DejaVu Sans", Arial, sans-serif; width: ${PAGE_WIDTH}px; }
    header { padding: 14px 20px 6px; } header h1 { margin: 0; font-size: 20px; color: #fff; font-weight: 500; }
    header p { margin: 4px 0 0; color: #9fa7b3; }
    .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; padding: 10px 20px; }
    .panel { background: #181b1f; border: 1px solid #2c3235; border-radius: 3px; height: ${PANEL_HEIGHT}px; padding: 8px 10px; box-sizing: border-box; }
    .panel h2 { margin: 0; font-size: 14px; color: #fff; font-weight: 500; } .q { color: #6e7681; font: 10.5px "DejaVu Sans Mono", monospace; margin: 2px 0 2px; line-height: 1.5; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    svg text { fill: #9fa7b3; font: 10.5px "DejaVu Sans", Arial, sans-serif; }
    footer { padding: 0 20px 14px; color: #6e7681; }
  </style></head><body>
  <header><h1>SyncWorker · rendered from a local run's /metrics</h1>
  <p>${esc(run.date)} · ${run.minutes} min of traffic, ${run.sent} signed webhooks · targets: warehouse (≈12% 503, ≈3% 400), erp (503 outage ${fmtClock(run.outage.from)}–${fmtClock(run.outage.to)}) · wrong signing secret on half the webhooks ${fmtClock(run.rotation.from)}–${fmtClock(run.rotation.to)} (shaded)</p></header>
  <div class="grid">${svgs.join("")}</div>
  <footer>Scraped every ${scrapeEverySeconds} s; rates over ${rateWindowSeconds} s windows; quantiles interpolated within histogram buckets as Prometheus's histogram_quantile does. Same queries as deploy/grafana/syncworker-dashboard.json. Made by docs/render/render-dashboard.mjs.</footer>
  </body></html>`;
}

function chart(panel, t0, t1, run) {
  const width = (PAGE_WIDTH - 40 - 16) / 2 - 22;
  const height = PANEL_HEIGHT - 62;
  const legendWidth = 290;
  const m = { left: 46, right: legendWidth + 10, top: 6, bottom: 20 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const lines = panel.lines.filter((line) => line.points.length > 0).sort((a, b) => a.name.localeCompare(b.name));
  let stacked = lines;
  if (panel.stack) {
    const sums = new Map();
    stacked = lines.map((line) => ({ ...line, base: line.points.map(([t]) => sums.get(t) ?? 0), points: line.points.map(([t, v]) => { const s = (sums.get(t) ?? 0) + v; sums.set(t, s); return [t, s]; }) }));
  }
  const all = stacked.flatMap((line) => line.points.map(([, v]) => v)).filter(Number.isFinite);
  const positive = all.filter((v) => v > 0);
  const log = panel.log && positive.length > 0;
  const lo = log ? Math.pow(10, Math.floor(Math.log10(Math.min(...positive)))) : 0;
  const hi = panel.max ?? (log ? Math.pow(10, Math.ceil(Math.log10(Math.max(...positive)))) : niceMax(Math.max(1e-9, ...all)));
  const x = (t) => m.left + ((t - t0) / (t1 - t0)) * w;
  const y = (v) => m.top + h - (log ? (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : v / hi) * h;
  const parts = [];
  // Shaded windows: the erp outage and the wrong secret.
  for (const [window, color] of [[run.outage, "rgba(242,73,92,0.07)"], [run.rotation, "rgba(255,152,48,0.09)"]]) {
    parts.push(`<rect x="${x(t0 + window.from)}" y="${m.top}" width="${x(t0 + window.to) - x(t0 + window.from)}" height="${h}" fill="${color}"/>`);
  }
  const ticks = log ? range(Math.log10(lo), Math.log10(hi)).map((e) => Math.pow(10, e)) : [0, 0.25, 0.5, 0.75, 1].map((f) => f * hi);
  for (const tick of ticks) {
    parts.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${y(tick)}" y2="${y(tick)}" stroke="#2c3235"/>`);
    parts.push(`<text x="${m.left - 6}" y="${y(tick) + 3.5}" text-anchor="end">${fmt(tick)}${panel.unit && tick ? esc(panel.unit.startsWith("/") ? "" : panel.unit) : ""}</text>`);
  }
  for (let s = 0; s <= t1 - t0; s += 30) {
    parts.push(`<line x1="${x(t0 + s)}" x2="${x(t0 + s)}" y1="${m.top + h}" y2="${m.top + h + 4}" stroke="#555"/>`);
    if (s % 60 === 0) parts.push(`<text x="${x(t0 + s)}" y="${m.top + h + 15}" text-anchor="middle">${fmtClock(s)}</text>`);
  }
  stacked.forEach((line, i) => {
    const color = FIXED[line.name] ?? FIXED[line.name.split(" ").at(-1)] ?? PALETTE[i % PALETTE.length];
    line.color = color;
    const path = (pts) => pts.map(([t, v], j) => {
      const X = x(t).toFixed(1);
      const Y = y(v).toFixed(1);
      if (j === 0) return `M${X},${Y}`;
      return panel.step ? `H${X}V${Y}` : `L${X},${Y}`;
    }).join("");
    if (panel.stack) {
      const lower = line.points.map(([t], j) => [t, line.base[j]]).reverse();
      parts.push(`<path d="${path(line.points)}${lower.map(([t, v]) => `L${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("")}Z" fill="${color}" fill-opacity="0.35"/>`);
    }
    parts.push(`<path d="${path(line.points)}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
  });
  parts.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${m.top + h}" y2="${m.top + h}" stroke="#555"/>`);
  // Legend: name, last and max.
  const lx = m.left + w + 14;
  parts.push(`<text x="${lx + 222}" y="${m.top + 9}" text-anchor="end">last</text><text x="${lx + 272}" y="${m.top + 9}" text-anchor="end">max</text>`);
  panel.lines.filter((line) => line.points.length > 0).sort((a, b) => a.name.localeCompare(b.name)).slice(0, 13).forEach((line, i) => {
    const values = line.points.map(([, v]) => v).filter(Number.isFinite);
    const color = stacked.find((s) => s.name === line.name)?.color ?? "#999";
    const ly = m.top + 24 + i * 15;
    parts.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${color}"/>`);
    parts.push(`<text x="${lx + 14}" y="${ly - 3}">${esc(line.name.length > 29 ? line.name.slice(0, 28) + "…" : line.name)}</text>`);
    parts.push(`<text x="${lx + 222}" y="${ly - 3}" text-anchor="end">${fmt(values.at(-1))}</text><text x="${lx + 272}" y="${ly - 3}" text-anchor="end">${fmt(Math.max(...values))}</text>`);
  });
  if (lines.length === 0) parts.push(`<text x="${m.left + w / 2}" y="${m.top + h / 2}" text-anchor="middle">no data</text>`);
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join("")}</svg>`;
}

function niceMax(v) {
  const magnitude = Math.pow(10, Math.floor(Math.log10(v)));
  return [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((f) => f * magnitude).find((n) => n >= v * 1.05) ?? 10 * magnitude;
}

function range(a, b) { const out = []; for (let i = Math.round(a); i <= Math.round(b); i++) out.push(i); return out; }

function fmt(v) {
  if (v === undefined || !Number.isFinite(v)) return "–";
  if (v === 0) return "0";
  const abs = Math.abs(v);
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1);
  if (abs >= 1) return v.toFixed(2);
  if (abs >= 0.01) return v.toFixed(3);
  return v.toExponential(1);
}

function fmtClock(seconds) { return `${Math.floor(seconds / 60)}:${String(Math.round(seconds % 60)).padStart(2, "0")}`; }

function esc(text) { return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;"); }

// ---------------------------------------------------------------- main (last: the helpers above are initialised)

try {
  const recorded = args["from-scrapes"]
    ? JSON.parse(gunzipSync(readFileSync(resolve(args["from-scrapes"]))).toString("utf8"))
    : await run();
  draw(recorded);
} finally {
  cleanup();
}
