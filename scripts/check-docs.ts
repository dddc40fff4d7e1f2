/**
 * `npm run test:docs`: proves that GET /docs renders in a real headless Chromium, offline-clean.
 *
 * Starts the Worker with `wrangler dev` on 127.0.0.1 (port 8789, or $DOCS_CHECK_PORT) with its own
 * throwaway state in .docs-check/, drives Debian's Chromium ($CHROMIUM_PATH, default
 * /usr/bin/chromium) through playwright-core, and fails (exit 1) unless all of these hold:
 *
 *   network  every request the page makes goes to 127.0.0.1 (data: and blob: URLs aside)
 *   console  no console error, uncaught error, CSP violation, failed or 4xx/5xx request
 *   render   the title is "Switchyard API reference", the operation summaries are visible and
 *            search finds an operation
 *   clicks   each operation below shows its TypeScript sample (x-codeSamples), and
 *            "Test Request" as a newcomer uses it: the demo-style key typed once into its
 *            Authentication field, then Send, with nothing else changed, answers 2xx on every GET
 *            without path parameters; Register a device sent twice makes two different devices
 *            (nothing pre-filled makes the first click fail or the second replay the first)
 *   upsells  none of Scalar's vendor upsells is visible, in any of those states
 *
 * Scalar turns most of its upsells on for local hosts (localhost, 127.0.0.1, *.test), so this run
 * on 127.0.0.1 is the worst case; a deployed Worker shows fewer of them, never more. It saves a
 * screenshot to reports/docs.png and one per click to reports/docs-<operationId>.png, stops the
 * Worker whatever happens and ends with `docs: N passed, N failed`.
 *
 *   node scripts/check-docs.ts
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { CLIENT_PACKAGE } from '../src/code-samples.ts';
import { SCOPES } from '../src/schemas/scopes.ts';
import { ensureDevVars, type LocalWorker, migrateLocal, ROOT, startLocalWorker } from './lib/local-worker.ts';
import { bootstrapOrganization } from './lib/org-bootstrap.ts';

const TITLE = 'Switchyard API reference';
/** Operation summaries from the spec that must be on screen. */
const SUMMARIES = ['Liveness probe', 'Readiness probe'];
const RENDER_TIMEOUT_MS = 20_000;
const STEP_TIMEOUT_MS = 10_000;

/**
 * What Scalar 1.76 shows on 127.0.0.1 with its defaults, and the options that hide each (see
 * src/routes/docs/docs.ts). Phrases distinctive enough to look for in any visible text.
 */
const UPSELL_TEXT: readonly RegExp[] = [
  /\bAsk AI\b/, // sidebar button and "Ask AI Agent" (agent)
  /\bGenerate (SDKs?|MCPs?)\b/, // toolbar, Client Libraries card, request examples, "Generate SDKs & MCP" card
  /\bConnect MCP\b/, // MCP card (mcp)
  /\bOpen API Client\b/, // link to client.scalar.com (hideClientButton)
  /\bDeveloper Tools\b/, // toolbar (showDeveloperTools)
  /\bPowered by Scalar\b/, // sidebar footer link to scalar.com (customCss)
  /\bAgent Scalar\b/,
  /\bScalar Pro\b/,
  /\bDeploy on Scalar\b/,
  /\bscalar\.com\b/i,
];
/** Short labels that a spec's prose may use too, so they count only as the name of a button or link. */
const UPSELL_CONTROLS: readonly RegExp[] = [/^Configure\b/, /^Share\b/, /^Deploy\b/, /^Open in\b/, /\bMCP\b/];
/** Any visible link to the vendor's services. */
const VENDOR_LINKS = 'a[href*="scalar.com" i], a[href*="apidocumentation.com" i]';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Reports CSP violations to the check (through an exposed binding, so the page's CSP does not apply). */
const CSP_LISTENER = `document.addEventListener('securitypolicyviolation', (event) => {
  const target = event.target && event.target.nodeName ? event.target.nodeName.toLowerCase() : '';
  globalThis.__docsCheckCsp(\`\${event.effectiveDirective} blocked \${event.blockedURI || 'inline'}\${target ? \` on <\${target}>\` : ''}\${event.sample ? \` (\${event.sample})\` : ''} at \${event.sourceFile}:\${event.lineNumber}:\${event.columnNumber}\`);
}, true);`;

/** An operation "Test Request" is clicked on, and how many times Send is pressed. */
interface Click {
  method: string;
  path: string;
  operationId: string;
  tag: string;
  sends: number;
  /** The operation takes the API key (the public probes declare `security: []`). */
  authenticated: boolean;
}

interface SpecOperation {
  operationId?: string;
  tags?: string[];
  parameters?: Array<{ in: string }>;
  security?: unknown[];
  'x-websocket'?: unknown;
}

/**
 * Every GET without path parameters (a newcomer's first clicks need no id from an earlier
 * response), and Register a device twice: the write a newcomer tries first, where a fixed
 * pre-filled Idempotency-Key or external id would make the second click replay or conflict.
 */
function clicksFor(spec: { paths: Record<string, Record<string, SpecOperation>> }): Click[] {
  const clicks: Click[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const sends =
        method === 'get' && operation['x-websocket'] === undefined && !operation.parameters?.some((parameter) => parameter.in === 'path')
          ? 1
          : method === 'post' && path === '/v1/devices'
            ? 2
            : 0;
      if (sends === 0) continue;
      clicks.push({
        method: method.toUpperCase(),
        path,
        operationId: operation.operationId ?? path,
        tag: operation.tags?.[0] ?? '',
        sends,
        authenticated: operation.security === undefined || operation.security.length > 0,
      });
    }
  }
  return clicks;
}

/** A reason the check cannot run that needs no stack trace to act on (a busy port, no Chromium). */
class SetupError extends Error {}

interface CheckResult {
  name: string;
  passed: boolean;
  summary: string;
  details: string[];
}

function clip(text: string | null | undefined, length = 160): string {
  // innerText is undefined on SVG elements, which can carry a role too; Playwright's errors carry colours.
  const flat = stripVTControlCharacters(text ?? '')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

/** data:, blob: and about: stay in the browser; everything else must go to 127.0.0.1. */
function leavesLoopback(url: string): boolean {
  try {
    const { protocol, hostname } = new URL(url);
    if (protocol === 'data:' || protocol === 'blob:' || protocol === 'about:') return false;
    return hostname !== '127.0.0.1';
  } catch {
    return true;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Visible texts of the elements a locator matches (textContent where innerText has none: SVG). */
async function texts(locator: Locator): Promise<string[]> {
  const [inner, content] = await Promise.all([locator.allInnerTexts(), locator.allTextContents()]);
  return inner.map((text, index) => clip(text || content[index], 80));
}

/** Every upsell visible on the page as it is now. */
async function visibleUpsells(page: Page): Promise<string[]> {
  const found = new Set<string>();
  for (const pattern of UPSELL_TEXT) {
    for (const text of await texts(page.getByText(pattern).filter({ visible: true }))) found.add(`${pattern} in "${text}"`);
  }
  for (const pattern of UPSELL_CONTROLS) {
    const controls = page
      .getByRole('button', { name: pattern })
      .or(page.getByRole('link', { name: pattern }))
      .or(page.getByRole('menuitem', { name: pattern }))
      .filter({ visible: true });
    for (const text of await texts(controls)) found.add(`control ${pattern} "${text}"`);
  }
  const links = page.locator(VENDOR_LINKS).filter({ visible: true });
  for (let index = 0; index < (await links.count()); index++) {
    const link = links.nth(index);
    found.add(`link to ${clip((await link.getAttribute('href')) ?? '', 120)} "${clip(await link.textContent(), 80)}"`);
  }
  return [...found];
}

async function main(): Promise<CheckResult[]> {
  const port = Number(process.env.DOCS_CHECK_PORT ?? 8789);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SetupError(`DOCS_CHECK_PORT must be a TCP port number, got ${process.env.DOCS_CHECK_PORT}`);
  }
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new SetupError(`no Chromium at ${executablePath}: \`apt-get install -y chromium\`, or set CHROMIUM_PATH`);
  }
  if (!(await portIsFree(port))) {
    throw new SetupError(`port ${port} on 127.0.0.1 is taken (another Worker?); set DOCS_CHECK_PORT to a free one`);
  }

  const stateDir = join(ROOT, '.docs-check');
  const reportsDir = join(ROOT, 'reports');
  const screenshot = join(reportsDir, 'docs.png');
  const shots: string[] = [];

  /** Set while wrangler starts, so a Ctrl-C then still stops it once it is up. */
  let starting: Promise<LocalWorker | undefined> | undefined;
  let worker: LocalWorker | undefined;
  let browser: Browser | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await browser?.close().catch(() => undefined);
      await (worker ?? (await starting))?.stop();
      await rm(stateDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  // wrangler runs in its own process group, so Ctrl-C would not reach it: stop it here.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping the Worker`);
      void stop().finally(() => process.exit(130));
    });
  }

  try {
    await rm(stateDir, { recursive: true, force: true });
    await mkdir(reportsDir, { recursive: true });
    await ensureDevVars();
    await migrateLocal(join(stateDir, 'state'));
    // The key a newcomer pastes from `npm start`'s output: every scope, a plan whose limits the clicks cannot reach.
    const { apiKey } = await bootstrapOrganization({
      name: 'Docs check',
      scopes: [...SCOPES],
      plan: 'pro',
      mode: 'test',
      persistTo: join(stateDir, 'state'),
    });
    const launch = startLocalWorker({ port, persistTo: join(stateDir, 'state'), quiet: true, log: 'ignore' });
    starting = launch.catch(() => undefined);
    worker = await launch.catch((error: unknown) => {
      // Its output is not shown here; `npm start` shows why it does not come up.
      throw new SetupError(`${error instanceof Error ? error.message : String(error)} (\`npm start\` shows the Worker's output)`);
    });
    // Signals are handled above: Playwright's own handlers would exit before the Worker is stopped.
    browser = await chromium.launch({
      executablePath,
      args: CHROMIUM_ARGS,
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    console.log(`docs: ${worker.url}/docs in Chromium ${browser.version()}`);

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();

    // network: Playwright's events, plus the DevTools protocol's, which also see what Playwright
    // leaves out (the favicon request, WebSockets).
    const requests = new Set<string>();
    const offLoopback = new Set<string>();
    const record = (url: string, kind: string) => {
      requests.add(url);
      if (leavesLoopback(url)) offLoopback.add(`${kind} ${clip(url, 200)}`);
    };
    context.on('request', (request) => record(request.url(), request.method()));
    page.on('websocket', (socket) => record(socket.url(), 'WebSocket'));
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.requestWillBeSent', (event) => record(event.request.url, event.request.method));
    cdp.on('Network.webSocketCreated', (event) => record(event.url, 'WebSocket'));

    // console: errors, uncaught exceptions, CSP violations, failed or 4xx/5xx requests.
    const problems: string[] = [];
    page.on('console', (message) => {
      const text = message.text();
      if (message.type() === 'error' || /Content Security Policy/i.test(text)) {
        const { url, lineNumber } = message.location();
        problems.push(`console.${message.type()}: ${clip(text, 300)}${url ? ` (${url}:${lineNumber})` : ''}`);
      }
    });
    page.on('pageerror', (error) => problems.push(`uncaught: ${clip(error.message, 300)}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`));
    cdp.on('Network.responseReceived', (event) => {
      if (event.response.status >= 400) problems.push(`HTTP ${event.response.status}: ${clip(event.response.url, 200)}`);
    });
    await page.exposeFunction('__docsCheckCsp', (violation: string) => problems.push(`CSP violation: ${violation}`));
    await page.addInitScript({ content: CSP_LISTENER });

    // render, then upsells in each state the page is driven through.
    const render: string[] = [];
    const renderFailures: string[] = [];
    /** Each upsell seen, with the states it was seen in. */
    const upsells = new Map<string, string[]>();
    const states: string[] = [];
    const clicked: string[] = [];
    const clickFailures: string[] = [];
    const scan = async (state: string) => {
      states.push(state);
      for (const upsell of await visibleUpsells(page)) upsells.set(upsell, [...(upsells.get(upsell) ?? []), state]);
    };
    let rendered = false;
    try {
      const response = await page.goto(`${worker.url}/docs`, { waitUntil: 'load', timeout: RENDER_TIMEOUT_MS });
      if (response?.status() !== 200) renderFailures.push(`GET /docs answered ${response?.status()}`);
      for (const summary of SUMMARIES) {
        await page.getByText(summary, { exact: true }).first().waitFor({ state: 'visible', timeout: RENDER_TIMEOUT_MS });
      }
      render.push(`${SUMMARIES.map((summary) => `"${summary}"`).join(' and ')} visible`);
      rendered = true;
    } catch (error) {
      renderFailures.push(`${SUMMARIES.join(', ')} not all visible: ${clip(String(error), 200)}`);
    }
    const title = await page.title();
    if (title === TITLE) render.push(`title "${title}"`);
    else renderFailures.push(`title is "${title}", expected "${TITLE}"`);
    await page.screenshot({ path: screenshot });
    shots.push(screenshot);

    if (rendered) {
      await scan('page');

      try {
        await page
          .getByRole('button', { name: /Search/ })
          .first()
          .click({ timeout: STEP_TIMEOUT_MS });
        await page.keyboard.type('probe');
        await page.getByRole('dialog').getByText('Readiness probe').first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
        render.push('search finds "Readiness probe"');
        await scan('search');
        await page.keyboard.press('Escape');
      } catch (error) {
        renderFailures.push(`search: ${clip(String(error), 200)}`);
      }

      const spec = (await (await fetch(`${worker.url}/openapi.json`)).json()) as Parameters<typeof clicksFor>[0];
      for (const [index, click] of clicksFor(spec).entries()) {
        const name = `${click.method} ${click.path}`;
        try {
          // The sidebar, as a reader finds an operation: open its tag's group, then its entry.
          const group = page.getByRole('button', { name: `Open Group - ${click.tag}`, exact: true });
          if ((await group.count()) > 0) await group.first().click({ timeout: STEP_TIMEOUT_MS });
          await page.locator(`a[href$="/${click.method}${click.path}"]`).first().click({ timeout: STEP_TIMEOUT_MS });
          const section = page.locator(`[id$="/${click.method}${click.path}"]`);
          // The request example shows the sample written with the client package first (x-codeSamples).
          await section.getByText(`TypeScript (${CLIENT_PACKAGE})`).first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
          await section
            .getByRole('button', { name: /^Test Request/ })
            .first()
            .click({ timeout: STEP_TIMEOUT_MS });
          const dialog = page.getByRole('dialog').first();
          const send = dialog.getByRole('button', { name: /^Send\b/ }).first();
          await send.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
          if (index === 0) await scan('Test Request');
          // Typed once, on the first click that asks for it: the reference keeps it for the others.
          if (click.authenticated) {
            const token = dialog.getByPlaceholder('Token');
            if (!(await token.isVisible()))
              await dialog.getByText('Authentication', { exact: true }).first().click({ timeout: STEP_TIMEOUT_MS });
            if ((await token.inputValue({ timeout: STEP_TIMEOUT_MS })) === '') await token.fill(apiKey);
          }
          const ids: string[] = [];
          for (let attempt = 0; attempt < click.sends; attempt++) {
            const [answer] = await Promise.all([
              page.waitForResponse(
                (candidate) => candidate.request().method() === click.method && new URL(candidate.url()).pathname === click.path,
                { timeout: STEP_TIMEOUT_MS },
              ),
              send.click(),
            ]);
            if (answer.status() < 200 || answer.status() > 299)
              throw new Error(`answered ${answer.status()}: ${clip(await answer.text(), 200)}`);
            const body = (await answer.json().catch(() => undefined)) as { id?: unknown } | undefined;
            if (typeof body?.id === 'string') ids.push(body.id);
          }
          if (click.sends > 1 && new Set(ids).size !== click.sends) {
            throw new Error(`${click.sends} sends made ${new Set(ids).size} distinct objects (${ids.join(', ') || 'no ids'})`);
          }
          // The response body viewer (CodeMirror) mounts its styles now.
          await dialog.locator('.cm-editor').first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
          if (index === 0) await scan('response');
          const shot = join(reportsDir, `docs-${click.operationId}.png`);
          await page.screenshot({ path: shot });
          shots.push(shot);
          clicked.push(click.sends > 1 ? `${name} ×${click.sends} (${ids.length} devices)` : name);
          await page.keyboard.press('Escape');
          await dialog.waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
        } catch (error) {
          clickFailures.push(`${name}: ${clip(String(error), 300)}`);
          await page.keyboard.press('Escape');
        }
      }
    }
    // CSP violation events and console messages arrive asynchronously: let the last ones land.
    await page.waitForTimeout(500);

    return [
      {
        name: 'network',
        passed: offLoopback.size === 0,
        summary:
          offLoopback.size === 0
            ? `${requests.size} requests, all to 127.0.0.1 (or data:/blob:)`
            : `${offLoopback.size} of ${requests.size} requests leave 127.0.0.1`,
        details: [...offLoopback],
      },
      {
        name: 'console',
        passed: problems.length === 0,
        summary:
          problems.length === 0 ? 'no console error, uncaught error, CSP violation or failed request' : `${problems.length} problems`,
        details: problems,
      },
      {
        name: 'render',
        passed: renderFailures.length === 0,
        summary: renderFailures.length === 0 ? render.join('; ') : 'the reference did not render as expected',
        details: renderFailures,
      },
      {
        name: 'clicks',
        passed: rendered && clicked.length > 0 && clickFailures.length === 0,
        summary: !rendered
          ? 'not checked: the reference did not render'
          : clickFailures.length === 0
            ? `"Test Request" answered 2xx on ${clicked.join(', ')}`
            : `${clickFailures.length} of ${clicked.length + clickFailures.length} "Test Request" clicks failed`,
        details: clickFailures,
      },
      {
        name: 'upsells',
        passed: rendered && upsells.size === 0,
        summary: !rendered
          ? 'not checked: the reference did not render'
          : upsells.size === 0
            ? `none visible (states: ${states.join(', ')})`
            : `${upsells.size} visible`,
        details: [...upsells].map(([upsell, seenIn]) => `${upsell} (${seenIn.join(', ')})`),
      },
    ];
  } finally {
    await stop();
    if (shots.length > 0) console.log(`screenshots: ${shots.map((file) => relative(ROOT, file)).join(', ')}`);
  }
}

const CHECKS = ['network', 'console', 'render', 'clicks', 'upsells'];
const started = performance.now();
let results: CheckResult[];
try {
  results = await main();
} catch (error) {
  const reason = error instanceof SetupError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  console.error(`docs: the check could not run: ${reason}`);
  results = CHECKS.map((name) => ({ name, passed: false, summary: 'not checked', details: [] }));
}
for (const result of results) {
  console.log(`${result.passed ? 'PASS' : 'FAIL'}  ${result.name}: ${result.summary}`);
  for (const detail of result.details) console.log(`        ${detail}`);
}
const passed = results.filter((result) => result.passed).length;
console.log(`took ${((performance.now() - started) / 1000).toFixed(1)} s`);
console.log(`docs: ${passed} passed, ${results.length - passed} failed`);
process.exit(passed === results.length ? 0 : 1);
