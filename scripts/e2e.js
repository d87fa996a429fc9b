// Opens every page of a running Sightline in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core): fails on console errors,
// page errors, failed requests and broken links; exercises hover read-outs,
// drag-to-zoom and the theme/phone layouts; saves screenshots.
// Signs in first (E2E_USER / E2E_PASSWORD) when they are set.
// Usage: node scripts/e2e.js http://127.0.0.1:PORT OUTDIR
"use strict";
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const base = process.argv[2];
const out = process.argv[3] || "target/e2e";
if (!base) {
  console.error("usage: node scripts/e2e.js BASE_URL [OUTDIR]");
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });

const pages = [
  ["home", "/"],
  ["dashboards", "/dashboards"],
  ["dashboards-search", "/dashboards?q=host"],
  ["dashboard-overview", "/d/overview?from=now-15m&to=now"],
  ["dashboard-host", "/d/host?from=now-15m&to=now"],
  ["dashboard-targets", "/d/targets?from=now-15m&to=now"],
  ["dashboard-sightline", "/d/sightline?from=now-15m&to=now&refresh=30s"],
  ["dashboard-http", "/d/http?from=now-15m&to=now"],
  ["dashboard-node-exporter-full", "/d/rYdddlPWk?from=now-15m&to=now"],
  ["dashboard-edit", "/d/host/edit"],
  ["dashboard-new", "/dashboards/new"],
  ["dashboard-import", "/dashboards/import"],
  ["explore-empty", "/explore"],
  ["explore-graph", "/explore?q=" + encodeURIComponent("rate(process_cpu_seconds_total[1m])") + "&from=now-15m&to=now"],
  ["explore-table", "/explore?q=up&tab=table"],
  ["explore-error", "/explore?q=" + encodeURIComponent("sum(")],
  ["targets", "/targets"],
  ["status", "/status"],
  ["alerts", "/alerts"],
  ["rules", "/rules"],
  ["silences", "/silences"],
  ["receivers", "/receivers"],
  ["admin-users", "/admin/users"],
  ["admin-tokens", "/admin/tokens"],
];
const user = process.env.E2E_USER || "";
const password = process.env.E2E_PASSWORD || "";

const problems = [];
function problem(where, what) {
  problems.push(`${where}: ${what}`);
  console.error(`FAIL ${where}: ${what}`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run",
    ],
  });
  const links = new Map(); // href -> first page seen on
  async function visit(context, name, url, opts = {}) {
    const page = await context.newPage();
    page.on("console", (m) => {
      // The expected status of a deliberately missing page is not an error.
      if (m.type() === "error" && !(opts.expectStatus && m.text().includes(`status of ${opts.expectStatus}`))) {
        problem(name, `console error: ${m.text()}`);
      }
    });
    page.on("pageerror", (e) => problem(name, `page error: ${e.message}`));
    page.on("requestfailed", (r) => problem(name, `request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
    page.on("response", (r) => {
      if (r.status() >= 400 && !(opts.expectStatus && r.url() === base + url)) problem(name, `HTTP ${r.status()} for ${r.url()}`);
    });
    const started = Date.now();
    const resp = await page.goto(base + url, { waitUntil: "load" });
    if (!resp) problem(name, "no response");
    else if (resp.status() !== (opts.expectStatus || 200)) problem(name, `status ${resp.status()}`);
    const ms = Date.now() - started;
    for (const href of opts.expectStatus ? [] : await page.$$eval("a[href]", (as) => as.map((a) => a.href))) {
      if (href.startsWith(base) && !links.has(href.split("#")[0])) links.set(href.split("#")[0], name);
    }
    const file = path.join(out, `${name}${opts.suffix || ""}.png`);
    await page.screenshot({ path: file, fullPage: opts.fullPage !== false });
    console.log(`ok   ${name}${opts.suffix || ""} ${url} (${ms} ms) -> ${file}`);
    return page;
  }

  // Signs a browser context in through the login form (its session cookie then rides along).
  async function login(context, where) {
    if (!user) return;
    const p = await context.newPage();
    p.on("console", (m) => { if (m.type() === "error") problem(where, `console error: ${m.text()}`); });
    await p.goto(base + "/login", { waitUntil: "load" });
    await p.fill('input[name="user"]', user);
    await p.fill('input[name="password"]', password);
    await Promise.all([p.waitForNavigation({ waitUntil: "load" }), p.click('form.login button[type="submit"]')]);
    if (new URL(p.url()).pathname === "/login") problem(where, "sign-in failed");
    else console.log(`ok   ${where}: signed in as ${user}`);
    await p.close();
  }

  // Before signing in: the login page renders, other pages send there.
  if (user) {
    const anon = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const p = await visit(anon, "login", "/login");
    await p.close();
    const q = await anon.newPage();
    await q.goto(base + "/targets", { waitUntil: "load" });
    if (new URL(q.url()).pathname !== "/login") problem("login", `signed-out /targets went to ${q.url()}`);
    await q.close();
    await anon.close();
  }

  // Desktop, light.
  const desktop = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme: "light" });
  await login(desktop, "login-desktop");
  for (const [name, url] of pages) {
    const p = await visit(desktop, name, url);
    await p.close();
  }

  // Hover read-out and drag-to-zoom on the host dashboard.
  {
    const p = await visit(desktop, "interact", "/d/host?from=now-15m&to=now", { fullPage: false });
    const svg = await p.$("svg.chart-timeseries");
    if (!svg) problem("interact", "no time-series chart on the host dashboard");
    else {
      const box = await svg.boundingBox();
      // Hover over the newest data: the server has only run for a few seconds.
      const cols = await svg.$$("g.hover > rect");
      const col = cols.length ? await cols[cols.length - 1].boundingBox() : box;
      await p.mouse.move(col.x + col.width / 2, box.y + box.height * 0.4);
      await p.waitForTimeout(100);
      const tip = await p.$(".readout:not([hidden])");
      if (!tip) problem("interact", "hover shows no read-out");
      else {
        const text = await tip.textContent();
        if (!/\d/.test(text || "")) problem("interact", `read-out has no value: ${text}`);
        await p.screenshot({ path: path.join(out, "interact-hover.png") });
        console.log("ok   hover read-out: " + JSON.stringify(text));
      }
      await p.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
      await p.mouse.down();
      await p.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 5 });
      await Promise.all([p.waitForNavigation({ waitUntil: "load" }), p.mouse.up()]);
      const u = new URL(p.url());
      const from = Number(u.searchParams.get("from")), to = Number(u.searchParams.get("to"));
      if (!(from > 0 && to > from)) problem("interact", `drag-to-zoom did not navigate to from/to: ${p.url()}`);
      else if (to - from > 10 * 60 * 1000) problem("interact", `zoomed range too wide: ${(to - from) / 1000}s`);
      else console.log(`ok   drag-to-zoom -> ${(to - from) / 1000}s range`);
      await p.screenshot({ path: path.join(out, "interact-zoomed.png"), fullPage: true });
    }
    await p.close();
  }

  // A 404 page renders (and is expected to answer 404).
  {
    const p = await visit(desktop, "not-found", "/d/no-such-dashboard", { expectStatus: 404 });
    await p.close();
  }

  // Phone width and dark theme.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: "dark" });
  await login(phone, "login-phone");
  for (const [name, url] of [["home", "/"], ["dashboard-host", "/d/host?from=now-15m&to=now"], ["dashboards", "/dashboards"], ["explore-graph", pages[13][1]], ["targets", "/targets"]]) {
    const p = await visit(phone, name, url, { suffix: "-phone-dark" });
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 4) problem(name + "-phone", `page is ${overflow}px wider than the phone`);
    await p.close();
  }
  const dark = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme: "dark" });
  await login(dark, "login-dark");
  for (const [name, url] of [["dashboard-overview", "/d/overview?from=now-15m&to=now"], ["explore-graph", pages[13][1]]]) {
    const p = await visit(dark, name, url, { suffix: "-dark" });
    await p.close();
  }

  // Every same-origin link found on the pages must answer below 400.
  const req = desktop.request;
  let checked = 0;
  for (const [href, from] of links) {
    const r = await req.get(href, { maxRedirects: 0 });
    checked++;
    if (r.status() >= 400) problem(from, `broken link ${href}: HTTP ${r.status()}`);
  }
  console.log(`ok   ${checked} links checked`);

  await browser.close();
  if (problems.length) {
    console.error(`\n${problems.length} problem(s):\n` + problems.join("\n"));
    process.exit(1);
  }
  console.log(`\ne2e: all pages clean; screenshots in ${out}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
