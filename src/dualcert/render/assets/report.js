/*
 * The report's own style and script, inlined (the report is opened offline, attached to
 * change tickets: no external asset, no fetch).
 *
 * The script never uses innerHTML for data: certificate and server strings become DOM text
 * through textContent. It does three things:
 * - filters by node / service / offer / TLS version from the query string (?dcnode=...): the
 *   test list pytest-html would render is pruned *before* pytest-html's script reads it, so a
 *   filtered view of a 2,000-endpoint run renders only the rows asked for; unfiltered, at most
 *   ROW_LIMIT rows are rendered (failures first) and the page says so;
 * - fills a test's chain / TLS / PEM detail from the shared per-probe data when it is opened
 *   (each certificate and each probe is stored once, not once per rule; a passing endpoint test
 *   has one placeholder for all its probes);
 * - records `data-dc-rows` and `data-dc-ready-ms` on <html> once rendered (for tests and the
 *   open-time benchmark).
 */
(function () {
  'use strict';
  var params = new URLSearchParams(window.location.search);
  var wanted = {node: params.get('dcnode'), service: params.get('dcservice'),
                offer: params.get('dcoffer'), version: params.get('dcversion')};
  var filtering = Object.keys(wanted).some(function (k) { return wanted[k]; });

  function caseOf(nodeid) {                  // "...[node:service:offer:tls1.2]" -> parts
    var m = /\[([^\[\]]*)\]$/.exec(nodeid);
    if (!m) { return null; }
    var p = m[1].split(':');
    if (p.length === 2) { return {node: p[0], service: p[1]}; }  // an endpoint test: every offer and version
    return p.length === 4 ? {node: p[0], service: p[1], offer: p[2], version: p[3]} : null;
  }
  function keep(nodeid) {
    var c = caseOf(nodeid);
    if (!c) { return !filtering; }
    return Object.keys(wanted).every(function (k) { return !wanted[k] || c[k] === undefined || wanted[k] === c[k]; });
  }
  // pytest-html renders every row it is given, and re-renders them all on each click: past a
  // few thousand rows the page stops being usable. Render at most ROW_LIMIT rows (failures
  // first); the matrix links and the filters reach the rest; ?dcall=1 renders everything.
  var ROW_LIMIT = 1000;
  var visible = params.get('visible');
  var outcomes = visible === null ? null : visible.toLowerCase().split(',');
  var truncated = null;
  function resultOf(runs) {                 // a row is compact ([result, ...], pytest/html.py) or pytest-html's own
    var first = runs[0] || {};
    return ((Array.isArray(first) ? first[0] : first.result) || '').toLowerCase();
  }
  function rank(runs) {
    var result = resultOf(runs);
    return result === 'failed' || result === 'error' ? 0 : result === 'skipped' ? 2 : 1;
  }
  // A compact row back as pytest-html's: the cells pytest/html.py's expanded_cells() checked it rebuilds.
  function columnsOf() {                    // the estate's columns, named in the shared data (pytest/html.py)
    return document.getElementById('dualcert-data') ? data().columns || [] : [];
  }
  function expand(id, row, columns) {
    if (!Array.isArray(row)) { return row; }
    var full = {result: row[0], testId: id, duration: row[1], log: row.length > 4 ? row[4] : 'No log output captured.',
                extras: row[3].map(function (content) {
                  return {name: null, format_type: 'html', content: content, mime_type: null, extension: null};
                })};
    var cells = ['<td class="col-result">' + row[0] + '</td>', '<td class="col-testId">' + id + '</td>'];
    columns.forEach(function (key, i) {
      full['dc' + key] = row[2][i];
      cells.push('<td class=col-dc' + key + '>' + row[2][i] + '</td>');
    });
    cells.push('<td class="col-duration">' + row[1] + '</td>', '<td class="col-links"></td>');
    full.resultsTableRow = cells;
    return full;
  }
  function prune(container) {
    if (container.dataset.dcPruned) { return; }
    container.dataset.dcPruned = '1';
    // The test list travels in a data block before the container (pytest/html.py), not in its attribute.
    var source = document.getElementById('dc-tests');
    var data = JSON.parse(source ? source.textContent : container.dataset.jsonblob);
    if (source) { source.parentNode.removeChild(source); }   // read once: the page keeps only the rows shown
    var all = Object.keys(data.tests);
    var ids = all.filter(function (id) {
      var runs = data.tests[id];
      return keep(id) && (outcomes === null || outcomes.indexOf(resultOf(runs)) >= 0);
    });
    if (params.get('dcall') !== '1' && ids.length > ROW_LIMIT) {
      truncated = {shown: ROW_LIMIT, total: ids.length};
      ids = ids.map(function (id, i) { return [rank(data.tests[id]), i, id]; })
        .sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; })
        .slice(0, ROW_LIMIT).map(function (x) { return x[2]; });
    }
    if (ids.length === all.length && !source) { return; }
    var columns = columnsOf();
    var tests = {};
    ids.forEach(function (id) {
      tests[id] = data.tests[id].map(function (row) { return expand(id, row, columns); });
    });
    data.tests = tests;
    container.dataset.jsonblob = JSON.stringify(data);
  }
  // pytest-html's script reads #data-container right after the parser inserts it; a mutation
  // observer runs at the microtask checkpoint before that script, so the pruned list is what renders.
  var observer = new MutationObserver(function () {
    var container = document.getElementById('data-container');
    if (container) { observer.disconnect(); prune(container); }
  });
  observer.observe(document.documentElement, {childList: true, subtree: true});

  var detail = null;
  function data() {
    if (detail === null) { detail = JSON.parse(document.getElementById('dualcert-data').textContent); }
    return detail;
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function fill(box) {
    if (box.dataset.dcFilled) { return; }
    box.dataset.dcFilled = '1';
    var d = data(), id = box.dataset['case'];
    if (!d.probes[id] && id.split(':').length === 2) {
      // A passing endpoint's one placeholder (node:service): each of its probes in turn.
      d.offers.forEach(function (offer) {
        d.versions.forEach(function (version) {
          var probeId = id + ':' + offer + ':' + version;
          if (d.probes[probeId]) { box.appendChild(el('h4', probeId)); fillProbe(box, d.probes[probeId]); }
        });
      });
      return;
    }
    fillProbe(box, d.probes[id]);
  }
  function fillProbe(box, probe) {
    var d = data();
    if (!probe) { box.appendChild(el('p', 'not probed (run interrupted or endpoint skipped)')); return; }
    var text = function (ref) { return ref === null || ref === undefined ? '' : d.strings[ref]; };
    var tls = 'outcome ' + text(probe[0]) + (probe[1] !== null ? ', negotiated ' + text(probe[1]) + ' ' +
                                             text(probe[2]) : '') +
              (probe[3] ? ', ' + probe[3] : '') + (probe[4] ? ', alert ' + probe[4] : '');
    box.appendChild(el('p', tls));
    if (!probe[5].length) { return; }
    var table = el('table', null, 'dc-chain'), head = el('tr');
    ['#', 'subject', 'issuer', 'key', 'signature', 'valid from', 'until', 'SHA-256'].forEach(function (h) {
      head.appendChild(el('th', h));
    });
    table.appendChild(head);
    probe[5].forEach(function (ref, i) {
      var c = d.certs[ref], row = el('tr');
      [i, c.s, text(c.i), text(c.k), text(c.a), c.f, c.t, c.h].forEach(function (v) { row.appendChild(el('td', v)); });
      table.appendChild(row);
    });
    box.appendChild(table);
    probe[5].forEach(function (ref, i) {
      var c = d.certs[ref];
      if (!c.p) {   // a large report keeps the PEMs of failing and warning probes' certificates only
        box.appendChild(el('p', 'PEM #' + i + ': not in this report (it passed every rule); the results JSON has ' +
          'it: jq -r \'.certificates["' + c.h + '"].der\' REPORT.json (base64 DER)'));
        return;
      }
      var pem = el('details'), link = el('a', 'download #' + i + '.pem');
      pem.appendChild(el('summary', 'PEM #' + i + ' ' + c.h.slice(0, 16) + '…'));
      link.href = 'data:application/x-pem-file;charset=utf-8,' + encodeURIComponent(c.p);
      link.download = c.h.slice(0, 16) + '.pem';
      pem.appendChild(link);
      pem.appendChild(el('pre', c.p));
      box.appendChild(pem);
    });
  }
  document.addEventListener('toggle', function (event) {
    var t = event.target;
    if (t && t.classList && t.classList.contains('dc-probe') && t.open) { fill(t); }
  }, true);

  function filterBar() {
    var bar = document.getElementById('dc-filters');
    if (!bar) { return; }
    var d = data();
    [['node', d.nodes], ['service', d.services], ['offer', d.offers], ['version', d.versions]].forEach(function (f) {
      var label = el('label', f[0] + ' '), select = el('select');
      select.name = 'dc' + f[0];
      select.appendChild(el('option', 'all'));
      select.firstChild.value = '';
      f[1].forEach(function (v) {
        var o = el('option', v); o.value = v; if (wanted[f[0]] === v) { o.selected = true; } select.appendChild(o);
      });
      select.addEventListener('change', function () {
        var url = new URL(window.location.href);
        if (select.value) { url.searchParams.set(select.name, select.value); }
        else { url.searchParams.delete(select.name); }
        url.hash = 'results-table';
        window.location.href = url.href;
      });
      label.appendChild(select);
      bar.appendChild(label);
    });
    if (truncated) {
      bar.appendChild(el('p', 'Showing ' + truncated.shown + ' of ' + truncated.total + ' tests (failures first): ' +
        'pick a node, service, offer or version, or click a cell of the matrix, to see the others.', 'dc-truncated'));
      var everything = el('a', 'render all ' + truncated.total + ' (slow)');
      var all = new URL(window.location.href);
      all.searchParams.set('dcall', '1');
      everything.href = all.href;
      bar.appendChild(everything);
    }
    if (filtering) {
      var clear = el('a', ' show every test');
      var url = new URL(window.location.href);
      ['dcnode', 'dcservice', 'dcoffer', 'dcversion'].forEach(function (k) { url.searchParams.delete(k); });
      clear.href = url.href;
      bar.appendChild(clear);
    }
  }
  window.addEventListener('load', function () {
    filterBar();
    if (params.get('dcdetails') === 'open') {
      document.querySelectorAll('details.dc-probe').forEach(function (box) { box.open = true; fill(box); });
    }
    var root = document.documentElement;
    root.dataset.dcRows = String(document.querySelectorAll('#results-table tr.collapsible').length);
    root.dataset.dcReadyMs = String(Math.round(performance.now()));
  });
})();
