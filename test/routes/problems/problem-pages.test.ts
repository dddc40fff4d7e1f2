/**
 * Every problem `type` resolves (issue 14 §3): a page per catalogue code saying what it means and
 * what to do, an index of them all, and `/` leading to the reference.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG, type ErrorCode } from '../../../src/schemas/problem.ts';
import { PROBLEM_GUIDE } from '../../../src/schemas/problem-guide.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { BASE_URL, callWorker } from '../../helpers/worker.ts';

const CODES = Object.keys(ERROR_CATALOG) as ErrorCode[];

function asHtml(text: string): string {
  const escaped = text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
  return escaped.replaceAll(/`([^`]+)`/g, '<code>$1</code>');
}

describe('problem pages', () => {
  it("a problem's type is a page the Worker serves, on the host that answered", async () => {
    const response = await callWorker('/v1/devices');
    const problem = await expectProblem(response, 401, 'unauthorized');
    expect(problem.type).toBe(`${BASE_URL}/problems/unauthorized`);
    const page = await callWorker(new URL(problem.type).pathname);
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('Authentication required');
    expect(html).toContain('<code>code: "unauthorized"</code> · HTTP 401');
  });

  it.each(CODES)('serves %s: its title, status, meaning and what to do', async (code) => {
    const page = await callWorker(`/problems/${code.replaceAll('_', '-')}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(`HTTP ${ERROR_CATALOG[code].status}`);
    // The guide's text whole, escaped, with its code spans as <code>.
    for (const text of [PROBLEM_GUIDE[code].meaning, PROBLEM_GUIDE[code].action]) expect(html).toContain(`<p>${asHtml(text)}</p>`);
    // No script or style: the API's own CSP (default-src 'none') serves it as it is.
    expect(html).not.toMatch(/<script|<style|style=/);
    expect(page.headers.get('Content-Security-Policy')).toContain("default-src 'none'");
  });

  it('lists every code on /problems, each linking to its page', async () => {
    const html = await (await callWorker('/problems')).text();
    for (const code of CODES) expect(html).toContain(`<a href="/problems/${code.replaceAll('_', '-')}"><code>${code}</code></a>`);
  });

  it('answers an unknown problem with a 404 problem, and does not reflect markup', async () => {
    const response = await callWorker('/problems/%3Cscript%3E');
    const problem = await expectProblem(response, 404, 'not_found');
    expect(problem.detail).toContain('/problems');
  });

  it('sends / to the reference', async () => {
    const response = await callWorker('/', { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('Location')).toBe('/docs');
  });
});
