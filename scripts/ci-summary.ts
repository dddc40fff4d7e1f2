/**
 * Prints one line, `N passed, N failed`, from the JUnit reports given as arguments. A report
 * that is missing (its step died before writing it) counts as one failure, so a run that
 * executed nothing never looks green.
 *
 *   node scripts/ci-summary.ts reports/vitest-junit.xml reports/fuzz-junit.xml
 */
import { readFile } from 'node:fs/promises';

const files = process.argv.slice(2);

let passed = 0;
let failed = 0;
for (const file of files) {
  const xml = await readFile(file, 'utf8').catch(() => undefined);
  if (xml === undefined) {
    console.error(`missing report: ${file}`);
    failed += 1;
    continue;
  }
  // Each <testcase …/> or <testcase …>…</testcase>; a failure or error element inside marks it failed.
  for (const match of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const inner = match[2] ?? '';
    if (/<skipped\b/.test(inner)) continue;
    if (/<(failure|error)\b/.test(inner)) failed += 1;
    else passed += 1;
  }
}
console.log(`${passed} passed, ${failed} failed`);
