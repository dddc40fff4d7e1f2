/**
 * Small line charts for the scale curves: an SVG written here (panels of lines over a log-scale
 * x axis, labelled ticks, units, a legend), rendered to PNG by resvg (@resvg/resvg-js, a prebuilt
 * binary from npm; the machine's fonts: DejaVu or Liberation). No plotting library: a few panels of
 * a handful of points each do not need one.
 */
import { Resvg } from '@resvg/resvg-js';

export interface Series {
  name: string;
  points: ReadonlyArray<{ x: number; y: number }>;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

export interface Figure {
  title: string;
  subtitle: string;
  panels: Panel[];
}

const PANEL = { width: 560, plotHeight: 250, left: 76, right: 20, top: 36, axis: 46, legendRow: 18 };
const COLUMNS = 2;
const HEADER = 64;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const FONT = 'font-family="DejaVu Sans, Liberation Sans, sans-serif"';

interface Scale {
  at(value: number): number;
  ticks: number[];
}

const escapeXml = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** 1.5k, 20k, 1M, 0.25: short tick labels. */
export function compactNumber(value: number): string {
  const trim = (n: number, digits: number) => Number(n.toFixed(digits)).toString();
  if (Math.abs(value) >= 1e6) return `${trim(value / 1e6, 1)}M`;
  if (Math.abs(value) >= 1e3) return `${trim(value / 1e3, 1)}k`;
  if (Math.abs(value) >= 10) return trim(value, 0);
  return trim(value, 2);
}

/** x: log scale over the data's sizes, a tick at each size measured. */
function logXScale(values: number[], from: number, to: number): Scale {
  const ticks = [...new Set(values)].sort((a, b) => a - b);
  const low = Math.log10(ticks[0] ?? 1) - 0.15;
  const high = Math.max(Math.log10(ticks.at(-1) ?? 10) + 0.15, low + 0.3);
  return { at: (value) => from + ((Math.log10(value) - low) / (high - low)) * (to - from), ticks };
}

/** y: linear from 0 with round steps, or log (decades) when the values span more than 20×. */
function yScale(values: number[], bottom: number, top: number): Scale {
  const positive = values.filter((value) => value > 0);
  const max = Math.max(...values, 0);
  const min = Math.min(...positive);
  if (positive.length === values.length && positive.length > 0 && max / min > 20) {
    const low = Math.floor(Math.log10(min));
    const high = Math.max(Math.ceil(Math.log10(max)), low + 1);
    const ticks: number[] = [];
    for (let decade = low; decade <= high; decade += 1) {
      for (const step of high - low <= 2 ? [1, 2, 5] : [1]) if (decade < high || step === 1) ticks.push(step * 10 ** decade);
    }
    return { at: (value) => bottom - ((Math.log10(value) - low) / (high - low)) * (bottom - top), ticks };
  }
  const rough = (max || 1) / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 2.5, 5, 10].find((factor) => factor * magnitude >= rough) ?? 10) * magnitude;
  const ceiling = Math.ceil((max * 1.05) / step) * step || step;
  const ticks = Array.from({ length: Math.round(ceiling / step) + 1 }, (_, index) => index * step);
  return { at: (value) => bottom - (value / ceiling) * (bottom - top), ticks };
}

function axesSvg(panel: Panel, x: Scale, y: Scale, box: { left: number; right: number; top: number; bottom: number }): string[] {
  const parts: string[] = [];
  for (const tick of y.ticks) {
    const at = y.at(tick).toFixed(1);
    parts.push(`<line x1="${box.left}" x2="${box.right}" y1="${at}" y2="${at}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${box.left - 6}" y="${at}" dy="4" text-anchor="end" font-size="11" fill="#444">${compactNumber(tick)}</text>`);
  }
  for (const tick of x.ticks) {
    const at = x.at(tick).toFixed(1);
    parts.push(`<line x1="${at}" x2="${at}" y1="${box.top}" y2="${box.bottom}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${at}" y="${box.bottom + 16}" text-anchor="middle" font-size="11" fill="#444">${compactNumber(tick)}</text>`);
  }
  parts.push(
    `<rect x="${box.left}" y="${box.top}" width="${box.right - box.left}" height="${box.bottom - box.top}" fill="none" stroke="#888"/>`,
  );
  parts.push(
    `<text x="${(box.left + box.right) / 2}" y="${box.bottom + 34}" text-anchor="middle" font-size="12">${escapeXml(panel.xLabel)}</text>`,
  );
  const middle = (box.top + box.bottom) / 2;
  parts.push(
    `<text transform="translate(${box.left - 52} ${middle}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(panel.yLabel)}</text>`,
  );
  parts.push(`<text x="${box.left}" y="${box.top - 12}" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`);
  return parts;
}

function linesSvg(series: Series[], x: Scale, y: Scale): string[] {
  return series.flatMap((line, index) => {
    const color = COLORS[index % COLORS.length] as string;
    const points = [...line.points].sort((a, b) => a.x - b.x).map((point) => `${x.at(point.x).toFixed(1)},${y.at(point.y).toFixed(1)}`);
    return [
      `<polyline points="${points.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`,
      ...points.map((point) => `<circle cx="${point.split(',')[0]}" cy="${point.split(',')[1]}" r="3.5" fill="${color}"/>`),
    ];
  });
}

function legendSvg(series: Series[], left: number, top: number): string[] {
  const columnWidth = (PANEL.width - PANEL.left - PANEL.right) / 2;
  return series.flatMap((line, index) => {
    const x = left + (index % 2) * columnWidth;
    const y = top + Math.floor(index / 2) * PANEL.legendRow;
    const color = COLORS[index % COLORS.length] as string;
    return [
      `<line x1="${x}" x2="${x + 18}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2.5"/>`,
      `<text x="${x + 24}" y="${y}" dy="4" font-size="11">${escapeXml(line.name)}</text>`,
    ];
  });
}

function legendHeight(panels: Panel[]): number {
  return Math.max(...panels.map((panel) => Math.ceil(panel.series.length / 2))) * PANEL.legendRow;
}

function panelSvg(panel: Panel, originX: number, originY: number): string {
  const box = { left: originX + PANEL.left, right: originX + PANEL.width - PANEL.right, top: originY + PANEL.top, bottom: 0 };
  box.bottom = box.top + PANEL.plotHeight;
  const points = panel.series.flatMap((line) => line.points);
  const x = logXScale(
    points.map((point) => point.x),
    box.left,
    box.right,
  );
  const y = yScale(
    points.map((point) => point.y),
    box.bottom,
    box.top,
  );
  const legend = panel.series.length > 1 ? legendSvg(panel.series, box.left, box.bottom + PANEL.axis + 8) : [];
  return [...axesSvg(panel, x, y, box), ...linesSvg(panel.series, x, y), ...legend].join('\n');
}

/** The whole figure as SVG: a title, then the panels two by two. */
export function figureSvg(figure: Figure): string {
  const panelHeight = PANEL.top + PANEL.plotHeight + PANEL.axis + legendHeight(figure.panels) + 16;
  const rows = Math.ceil(figure.panels.length / COLUMNS);
  const width = PANEL.width * Math.min(COLUMNS, figure.panels.length);
  const height = HEADER + rows * panelHeight;
  const panels = figure.panels.map((panel, index) =>
    panelSvg(panel, (index % COLUMNS) * PANEL.width, HEADER + Math.floor(index / COLUMNS) * panelHeight),
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="16" y="26" font-size="18" font-weight="bold">${escapeXml(figure.title)}</text>`,
    `<text x="16" y="46" font-size="12" fill="#555">${escapeXml(figure.subtitle)}</text>`,
    ...panels,
    '</svg>',
  ].join('\n');
}

/** PNG bytes of an SVG (at twice its size, for a sharp picture). */
export function renderPng(svg: string): Buffer {
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}
