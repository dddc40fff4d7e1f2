/**
 * @module
 * The pages a problem's `type` URI resolves to: `/problems/{code}` (the code in kebab case, as in
 * the URI) says what the problem means and what to do, `/problems` lists them all. Plain HTML with
 * no script or style, so the API's own `default-src 'none'` policy serves it unchanged. Not in the
 * spec, like `/docs`: they are for people following a link.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../context.ts';
import { ApiError, problemSlug } from '../../errors.ts';
import { ERROR_CATALOG, type ErrorCode } from '../../schemas/problem.ts';
import { PROBLEM_GUIDE } from '../../schemas/problem-guide.ts';

const CODES = Object.keys(ERROR_CATALOG) as ErrorCode[];
const CODE_BY_SLUG = new Map(CODES.map((code) => [problemSlug(code), code]));

function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

/** The guide's text, escaped, with its `code spans` as <code>. */
function prose(text: string): string {
  return escapeHtml(text).replaceAll(/`([^`]+)`/g, '<code>$1</code>');
}

function page(title: string, body: string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)} · Switchyard</title>`,
    '</head>',
    '<body>',
    ...body,
    '<p><a href="/problems">Every problem</a> · <a href="/docs">API reference</a></p>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function problemPage(code: ErrorCode): string {
  const { status, title } = ERROR_CATALOG[code];
  const guide = PROBLEM_GUIDE[code];
  return page(title, [
    `<h1>${escapeHtml(title)}</h1>`,
    `<p><code>code: "${code}"</code> · HTTP ${status}</p>`,
    '<h2>What it means</h2>',
    `<p>${prose(guide.meaning)}</p>`,
    '<h2>What to do</h2>',
    `<p>${prose(guide.action)}</p>`,
    '<p>Every problem response carries a <code>request_id</code>; quote it when asking for help.</p>',
  ]);
}

function indexPage(): string {
  const rows = CODES.map(
    (code) =>
      `<tr><td><a href="/problems/${problemSlug(code)}"><code>${code}</code></a></td><td>${ERROR_CATALOG[code].status}</td><td>${escapeHtml(ERROR_CATALOG[code].title)}</td></tr>`,
  );
  return page('Problems', [
    '<h1>Problems</h1>',
    '<p>Every error is an RFC 9457 problem document (<code>application/problem+json</code>); branch on its <code>code</code>.</p>',
    '<table>',
    '<tr><th>Code</th><th>Status</th><th>Title</th></tr>',
    ...rows,
    '</table>',
  ]);
}

export function registerProblemPages(app: OpenAPIHono<AppEnv>): void {
  app.get('/problems', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.html(indexPage());
  });
  app.get('/problems/:slug', (c) => {
    const code = CODE_BY_SLUG.get(c.req.param('slug'));
    if (code === undefined)
      throw new ApiError('not_found', { detail: `No problem is documented as ${c.req.param('slug')}; see /problems.` });
    c.header('Cache-Control', 'public, max-age=3600');
    return c.html(problemPage(code));
  });
  // The API's root has nothing of its own: a person who opens it wants the reference.
  app.get('/', (c) => c.redirect('/docs', 302));
}
