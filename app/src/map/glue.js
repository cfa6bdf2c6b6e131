// The map's JavaScript glue: Leaflet callbacks that are simpler to write in
// JavaScript than through wasm-bindgen. A real module (imported by `mod.rs`
// with `#[wasm_bindgen(module = "/src/map/glue.js")]`; wasm-bindgen copies it
// to pkg/snippets/), so the Content-Security-Policy needs no 'unsafe-eval'.
// `L` is Leaflet's global (leaflet.js loads before the hydration script).

// Groups outlet markers that would overlap: below zoom 10, when there are at
// least 150, markers falling in the same 44-pixel cell are hidden behind one
// numbered circle at their centre (a click zooms in on it); at closer zooms, or
// with fewer outlets, every marker shows. Recomputed on every zoom. It sets
// `data-clusters` on the map container to the number of groups shown.
// Answers the function that regroups now.
export function installGrouping(map, overlay, container) {
  var group = L.layerGroup().addTo(map);
  var CELL = 44, MIN_POINTS = 150, MAX_ZOOM = 10;
  function markers() {
    var out = [];
    var visit = function (l) {
      if (l instanceof L.CircleMarker) { out.push(l); } else if (l.eachLayer) { l.eachLayer(visit); }
    };
    overlay.eachLayer(visit);
    return out;
  }
  function shownStyle(m) {
    // Markers keep their own style (the layer's reach style is not for them):
    // only styles marked _sb reach them.
    return { _sb: true, opacity: m._sbStyle ? m._sbStyle.opacity : 1, fillOpacity: m._sbStyle ? m._sbStyle.fillOpacity : 0.95 };
  }
  function regroup() {
    group.clearLayers();
    var ms = markers();
    var z = map.getZoom();
    var grouping = ms.length >= MIN_POINTS && z < MAX_ZOOM;
    var cells = {};
    ms.forEach(function (m) {
      if (!grouping) { m.setStyle(shownStyle(m)); return; }
      var p = map.project(m.getLatLng(), z);
      var key = Math.floor(p.x / CELL) + ':' + Math.floor(p.y / CELL);
      (cells[key] = cells[key] || []).push(m);
    });
    var n = 0;
    Object.keys(cells).forEach(function (k) {
      var c = cells[k];
      if (c.length === 1) {
        c[0].setStyle(shownStyle(c[0]));
        return;
      }
      var lat = 0, lng = 0;
      c.forEach(function (m) {
        m.setStyle({ _sb: true, opacity: 0, fillOpacity: 0 });
        var ll = m.getLatLng(); lat += ll.lat; lng += ll.lng;
      });
      var size = c.length < 10 ? 28 : (c.length < 100 ? 34 : 42);
      var icon = L.divIcon({ html: '<span>' + c.length + '</span>', className: 'outlet-cluster', iconSize: [size, size] });
      var at = L.latLng(lat / c.length, lng / c.length);
      var marker = L.marker(at, { icon: icon, title: c.length + ' outlets here: zoom in', alt: c.length + ' outlets', keyboard: true });
      marker.on('click', function () { map.setView(at, Math.min(z + 2, map.getMaxZoom())); });
      group.addLayer(marker);
      n += 1;
    });
    container.setAttribute('data-clusters', String(n));
  }
  map.on('zoomend', regroup);
  return regroup;
}

// Options for one page of outlets (an `L.geoJSON` layer): coloured markers on
// one canvas, a faint reach, a popup. `colours` maps each kind to its colour;
// `detailsBase` is the link to an outlet's details without its id, or null
// (someone viewing a share link has no account: no link to the full map).
export function outletOptions(colours, detailsBase) {
  var escape = function (s) { var d = document.createElement('div'); d.textContent = s; return d.innerHTML; };
  return {
    // Outlets can number thousands: one canvas draws them; the boundary stays an SVG path.
    renderer: L.canvas({ padding: 0.5 }),
    pointToLayer: function (f, latlng) {
      var c = colours[f.properties.kind] || '#333';
      var m = L.circleMarker(latlng, { radius: 5, color: '#fff', weight: 1, opacity: 1, fillColor: c, fillOpacity: 0.95, className: 'outlet-marker' });
      m._sbStyle = { opacity: 1, fillOpacity: 0.95 };
      var set = m.setStyle;
      m.setStyle = function (s) { return s && s._sb ? set.call(this, s) : this; };
      return m;
    },
    style: function (f) {
      var c = colours[f.properties.kind] || '#333';
      return { color: c, weight: 1, opacity: 0.35, fillColor: c, fillOpacity: 0.04 };
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      var details = detailsBase === null || detailsBase === undefined
        ? ''
        : '<br><a href="' + escape(detailsBase + f.id) + '">details</a>';
      layer.bindPopup('<strong>' + escape(p.name) + '</strong><br>' + escape(p.kind) + ' in ' + escape(p.town) +
        '<br>audience ' + Number(p.audience).toLocaleString('en-GB') + '<br>reach: ' + escape(p.reach) +
        (p.demo ? '<br><em>demo data</em>' : '') + details);
    }
  };
}
