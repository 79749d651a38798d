// The officer's map, drawn by Leaflet (web/vendor, loaded as classic scripts before the modules: the global `L`)
// with Leaflet.markercluster grouping nearby cameras. Streets come from the hub's configured tile server
// (GET /api/map: `tile_url`, `attribution`); with none, the cameras are shown on a plain background and the map
// says so. A circle can be drawn on it (asking by area): its centre where the officer clicks (or the map's centre,
// for the keyboard), its radius from a slider.

const FALLBACK_CENTRE = [52.37, 4.895]; // shown only until a camera gives the map somewhere to be
const LONE_ZOOM = 16; // one camera (or several at one spot): a few streets around it

/**
 * The text of an element in a Leaflet marker's HTML (escaped: names come from residents).
 * @param {string} text
 * @returns {string}
 */
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The clusters' icon: how many cameras, and what activating it does, for screen readers too. */
function clusterIcon(cluster) {
  const count = cluster.getChildCount();
  return window.L.divIcon({
    html: `<span aria-hidden="true">${count}</span><span class="visually-hidden">${count} cameras close together: zoom in</span>`,
    className: 'cluster',
    iconSize: [40, 40],
  });
}

/** One map on the page: its cameras (clustered), and an optional circle for asking by area. */
export class CameraMap {
  /**
   * @param {HTMLElement} container where the map goes (sized by CSS)
   * @param {{tile_url: string|null, attribution: string, max_zoom: number}} settings from GET /api/map
   */
  constructor(container, settings) {
    const { L } = window;
    this.settings = settings;
    this.map = L.map(container, {
      center: FALLBACK_CENTRE,
      zoom: 13,
      maxZoom: settings.max_zoom || 19,
      keyboard: true,
      attributionControl: true,
    });
    this.map.attributionControl.setPrefix(false); // the library's own link and flag are not the tile licence
    container.dataset.tiles = settings.tile_url ? 'yes' : 'no';
    if (settings.tile_url) {
      L.tileLayer(settings.tile_url, {
        maxZoom: settings.max_zoom || 19,
        attribution: escapeHtml(settings.attribution || ''),
        crossOrigin: false,
      }).addTo(this.map);
    }
    this.cluster = L.markerClusterGroup({
      showCoverageOnHover: false,
      maxClusterRadius: 48,
      iconCreateFunction: clusterIcon,
    });
    this.map.addLayer(this.cluster);
    /** @type {Map<string, any>} marker by camera id */
    this.markers = new Map();
    this.placedKey = '';
    this.circle = null;
    this.onCentre = null;
    this.map.on('click', (event) => {
      if (this.onCentre) this.onCentre(event.latlng);
    });
  }

  /**
   * Show `cameras` (those with a position) as markers; `onChoose(camera)` when one is activated (click, Enter or
   * Space). The view fits them when the set of positions changed.
   * @param {{id: string, name: string, location: {lat: number, lon: number}|null}[]} cameras
   * @param {(camera: any) => void} onChoose
   * @param {(camera: any) => string} describe the accessible name of a camera's marker
   * @returns {number} how many are on the map
   */
  show(cameras, onChoose, describe) {
    const { L } = window;
    const placed = cameras.filter((camera) => camera.location);
    this.cluster.clearLayers();
    this.markers.clear();
    // Fit while the cluster is empty: markers then cluster once, at the final zoom. Fitting with them on the map
    // animates every cluster from the old zoom to the new, and for a moment both sets are drawn.
    const key = JSON.stringify(placed.map((camera) => [camera.location.lat, camera.location.lon]));
    if (key !== this.placedKey) {
      this.placedKey = key;
      this.fit(placed);
    }
    for (const camera of placed) {
      const { lat, lon } = camera.location;
      // The consent's countdown: the page ticks every `[data-ends]` (a marker out of a cluster shows it anew).
      const endsAt = camera.grant && camera.grant.ends_at;
      const ends = endsAt ? ` data-ends="${escapeHtml(endsAt)}"` : '';
      const icon = L.divIcon({
        className: 'camera-pin',
        html: `<span class="pin-dot" aria-hidden="true"></span><span class="pin-label" aria-hidden="true">`
          + `<span class="pin-name">${escapeHtml(camera.name)}</span>`
          + `<span class="pin-left time-left"${ends}></span></span>`,
        iconSize: [20, 20],
        iconAnchor: [10, 10],
      });
      const marker = L.marker([lat, lon], { icon, keyboard: true, title: '' });
      marker.on('add', () => {
        const node = marker.getElement();
        node.setAttribute('aria-label', describe(camera));
        node.dataset.camera = camera.id;
        node.classList.add('point');
        if (!node.dataset.keys) {
          node.dataset.keys = 'yes';
          node.addEventListener('keydown', (event) => {
            if (event.key === 'Enter' || event.key === ' ') {
              event.preventDefault();
              onChoose(camera);
            }
          });
        }
      });
      marker.on('click', () => onChoose(camera));
      this.markers.set(camera.id, marker);
    }
    this.cluster.addLayers([...this.markers.values()]);
    return placed.length;
  }

  /** Fit the view to the cameras' positions (a lone one: a few streets around it). */
  fit(placed) {
    const { L } = window;
    if (!placed.length) return;
    const bounds = L.latLngBounds(placed.map((camera) => [camera.location.lat, camera.location.lon]));
    if (bounds.getNorthEast().distanceTo(bounds.getSouthWest()) < 50) {
      this.map.setView(bounds.getCenter(), LONE_ZOOM, { animate: false });
    } else {
      this.map.fitBounds(bounds, { padding: [40, 40], maxZoom: LONE_ZOOM, animate: false });
    }
  }

  /** The container changed size (the window, or the page's layout): Leaflet measures again. */
  resized() {
    this.map.invalidateSize();
  }

  /** A marker's element (when its camera is on the map, not inside a cluster), or null. */
  markerElement(cameraId) {
    const marker = this.markers.get(cameraId);
    return (marker && marker.getElement()) || null;
  }

  /**
   * Start drawing a circle: its centre is the map's centre until the officer clicks elsewhere; `changed({lat,
   * lon, radius})` after each change.
   * @param {number} radius metres
   * @param {(circle: {lat: number, lon: number, radius: number}) => void} changed
   */
  startCircle(radius, changed) {
    const { L } = window;
    this.stopCircle();
    this.circle = L.circle(this.map.getCenter(), { radius, className: 'area-circle', interactive: false })
      .addTo(this.map);
    const report = () => {
      const { lat, lng } = this.circle.getLatLng();
      changed({ lat, lon: lng, radius: this.circle.getRadius() });
    };
    this.onCentre = (latlng) => {
      this.circle.setLatLng(latlng);
      report();
    };
    this.reportCircle = report;
    this.map.getContainer().classList.add('drawing');
    this.setRadius(radius); // zooms out if the circle would not fit, and reports it
  }

  /** Move the circle's centre to the map's centre (the keyboard way: pan the map with the arrow keys first). */
  centreCircle() {
    if (this.onCentre) this.onCentre(this.map.getCenter());
  }

  /**
   * The circle's radius in metres; the view zooms out when it would not fit.
   * @param {number} radius
   */
  setRadius(radius) {
    if (!this.circle) return;
    this.circle.setRadius(radius);
    if (!this.map.getBounds().contains(this.circle.getBounds())) {
      this.map.fitBounds(this.circle.getBounds(), { padding: [20, 20] });
    }
    this.reportCircle();
  }

  /** Stop drawing: the circle goes. */
  stopCircle() {
    if (this.circle) this.circle.remove();
    this.circle = null;
    this.onCentre = null;
    this.map.getContainer().classList.remove('drawing');
  }
}
