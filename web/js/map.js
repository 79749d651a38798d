// An offline plot of camera positions: an SVG scatter scaled to the bounding box of the positions, north up,
// with a scale bar. No tiles, no images, nothing fetched: every shape is drawn here.

const SVG = 'http://www.w3.org/2000/svg';
const PAD = 60; // room for labels around the outermost points
const METRES_PER_DEGREE = 111320;
const MIN_SPAN_METRES = 200; // a lone camera (or several at one spot) is shown in an area this wide

/**
 * Make an SVG element with attributes and children (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(Node|string)} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
  node.append(...children);
  return node;
}

/**
 * Where each position goes in a `width` x `height` picture: an equirectangular projection (longitude shrunk by
 * the cosine of the middle latitude, so distances look right), scaled to fit the bounding box and centred.
 * @param {{lat: number, lon: number}[]} positions
 * @param {number} width
 * @param {number} height
 * @returns {{points: {x: number, y: number}[], metresPerUnit: number}}
 */
export function project(positions, width, height) {
  const lats = positions.map((p) => p.lat);
  const midLat = (Math.min(...lats) + Math.max(...lats)) / 2;
  const squeeze = Math.cos((midLat * Math.PI) / 180);
  const xs = positions.map((p) => p.lon * squeeze);
  const ys = positions.map((p) => -p.lat);
  const minSpan = MIN_SPAN_METRES / METRES_PER_DEGREE;
  const spanX = Math.max(Math.max(...xs) - Math.min(...xs), minSpan);
  const spanY = Math.max(Math.max(...ys) - Math.min(...ys), minSpan);
  const scale = Math.min((width - 2 * PAD) / spanX, (height - 2 * PAD) / spanY);
  const midX = (Math.max(...xs) + Math.min(...xs)) / 2;
  const midY = (Math.max(...ys) + Math.min(...ys)) / 2;
  return {
    points: xs.map((x, i) => ({ x: width / 2 + (x - midX) * scale, y: height / 2 + (ys[i] - midY) * scale })),
    metresPerUnit: METRES_PER_DEGREE / scale,
  };
}

/** A round length (1, 2 or 5 times a power of ten, in metres) near a quarter of the picture's width. */
function scaleBar(metresPerUnit, width) {
  const target = (width / 4) * metresPerUnit;
  const power = 10 ** Math.floor(Math.log10(target));
  const metres = [5, 2, 1].map((f) => f * power).find((m) => m <= target) || power;
  const label = metres >= 1000 ? `${metres / 1000} km` : `${metres} m`;
  return { length: metres / metresPerUnit, label };
}

/**
 * Draw the cameras that have a position as labelled, focusable points; `onChoose(camera)` when one is activated
 * (click, Enter or Space). Returns the <svg>, or null when no camera has a position.
 * @param {{id: string, name: string, location: {lat: number, lon: number}|null}[]} cameras
 * @param {(camera: any) => void} onChoose
 * @param {(camera: any) => string} describe the accessible name of a camera's point
 * @param {number} [pixels] the width it is shown at (one unit is about one pixel, so labels stay readable)
 * @returns {SVGSVGElement|null}
 */
export function drawMap(cameras, onChoose, describe, pixels = 600) {
  const placed = cameras.filter((camera) => camera.location);
  if (!placed.length) return null;
  const width = Math.round(Math.min(Math.max(pixels, 300), 900));
  const height = Math.round(Math.min(Math.max(width * 0.65, 260), 420));
  const { points, metresPerUnit } = project(placed.map((camera) => camera.location), width, height);
  const picture = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'group',
    'aria-label': 'Map of camera positions',
    class: 'map',
  });
  picture.append(svg('rect', { x: 1, y: 1, width: width - 2, height: height - 2, class: 'map-frame' }));
  const bar = scaleBar(metresPerUnit, width);
  picture.append(
    svg('g', { class: 'map-furniture', 'aria-hidden': 'true' },
      svg('path', { d: `M ${width - 30} 44 l 0 -26 m -7 9 l 7 -9 l 7 9`, class: 'map-line' }),
      svg('text', { x: width - 30, y: 62, 'text-anchor': 'middle' }, 'N'),
      svg('path', { d: `M 20 ${height - 22} l 0 6 l ${bar.length} 0 l 0 -6`, class: 'map-line' }),
      svg('text', { x: 20, y: height - 28 }, bar.label)),
  ); // prettier-ignore
  placed.forEach((camera, i) => {
    const { x, y } = points[i];
    const leftSide = x > width * 0.6;
    const anchor = leftSide ? 'end' : 'start';
    const dx = leftSide ? -14 : 14;
    const point = svg('a', {
      href: `#camera-${camera.id}`,
      role: 'button',
      class: 'point',
      'data-camera': camera.id,
      'aria-label': describe(camera),
    },
    svg('circle', { cx: x, cy: y, r: 9 }),
    svg('text', { x: x + dx, y: y - 2, 'text-anchor': anchor, class: 'point-name' }, camera.name),
    svg('text', { x: x + dx, y: y + 16, 'text-anchor': anchor, class: 'point-left time-left', 'data-camera': camera.id }, ''),
    ); // prettier-ignore
    point.addEventListener('click', (event) => {
      event.preventDefault();
      onChoose(camera);
    });
    point.addEventListener('keydown', (event) => {
      if (event.key === ' ') {
        event.preventDefault();
        onChoose(camera);
      }
    });
    picture.append(point);
  });
  return picture;
}
