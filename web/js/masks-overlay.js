// The masks drawn over the picture: an SVG laid over the still picture (or the blank frame when there is none),
// in the picture's own pixels so that strokes and labels scale with it. Each mask is numbered as in the list;
// blacked-out masks are dark, blurred ones hatched; the polygon being drawn is dashed, its first point larger once
// a click on it would close the polygon. The SVG's label says how many masks it shows (the list has the detail).

import { $, counted, size, state } from './masks-state.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

/** Draw the masks being edited, and the polygon being drawn, over the picture. */
export function renderOverlay() {
  const { width, height } = size();
  const overlay = $('overlay');
  const frame = $('frame');
  frame.style.aspectRatio = `${width} / ${height}`;
  frame.style.setProperty('--ratio', String(width / height));
  overlay.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const unit = width / 320; // stroke widths and sizes scale with the picture
  const xy = ([x, y]) => `${x * width},${y * height}`;
  const hatch = svg(
    'pattern', { id: 'hatch', patternUnits: 'userSpaceOnUse', width: 6 * unit, height: 6 * unit, patternTransform: 'rotate(45)' },
    svg('rect', { width: 6 * unit, height: 6 * unit, fill: '#fff', 'fill-opacity': 0.35 }),
    svg('line', { x1: 0, y1: 0, x2: 0, y2: 6 * unit, stroke: '#000', 'stroke-width': 2.5 * unit, 'stroke-opacity': 0.75 }),
  );
  const nodes = [svg('defs', {}, hatch)];
  state.masks.forEach((mask, i) => {
    const fill = mask.style === 'blur' ? { fill: 'url(#hatch)' } : { fill: '#000', 'fill-opacity': 0.6 };
    const cx = mask.points.reduce((sum, p) => sum + p[0], 0) / mask.points.length;
    const cy = mask.points.reduce((sum, p) => sum + p[1], 0) / mask.points.length;
    nodes.push(svg(
      'g', { class: `mask ${mask.style}`, 'data-mask': i + 1 },
      svg('polygon', { points: mask.points.map(xy).join(' '), ...fill, stroke: '#ffd400', 'stroke-width': unit, 'stroke-linejoin': 'round' }),
      svg('text', {
        x: cx * width, y: cy * height, 'font-size': 11 * unit, 'text-anchor': 'middle', 'dominant-baseline': 'middle',
        fill: '#fff', stroke: '#000', 'stroke-width': 2.5 * unit, 'paint-order': 'stroke', 'font-weight': 700,
      }, `Mask ${i + 1}`),
    ));
  });
  if (state.drawing) {
    const points = state.drawing.points;
    const group = svg('g', { class: 'drawing' });
    if (points.length > 1) {
      group.append(svg('polyline', {
        points: points.map(xy).join(' '), fill: 'none', stroke: '#ffd400', 'stroke-width': 1.5 * unit,
        'stroke-dasharray': `${4 * unit} ${3 * unit}`,
      }));
    }
    points.forEach((p, i) => {
      const first = i === 0 && points.length >= 3;
      group.append(svg('circle', {
        cx: p[0] * width, cy: p[1] * height, r: (first ? 5 : 3) * unit, fill: first ? '#fff' : '#ffd400',
        stroke: '#000', 'stroke-width': unit,
      }));
    });
    nodes.push(group);
  }
  overlay.replaceChildren(...nodes);
  const count = state.masks.length;
  overlay.setAttribute('aria-label', count
    ? `The picture with ${counted(count, 'mask')} drawn over it (listed below)`
    : 'The picture, with no masks drawn over it');
}
