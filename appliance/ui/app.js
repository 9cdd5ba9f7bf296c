/*
 * portseal status page. Polls /metrics on the same origin (the browser presents the client
 * certificate it used for the page) and shows what it reads: tiles, a table per partner and
 * line charts on canvas. No libraries, no external assets; metric names in docs/metrics.md.
 */
'use strict';

(function () {
  var WINDOW_S = 300; /* charts keep 5 minutes */
  var COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
    '#17becf'];
  /* left out of the latency chart: this page's own requests and long-lived event streams */
  var SKIP_ROUTES = { metrics: 1, ui: 1, ui_file: 1, p2p_stream: 1 };
  var interval = parseInt(new URLSearchParams(window.location.search).get('interval'), 10);
  var prev = null; /* the previous scrape: {t, m} */
  var charts = { sigs: {}, lat: {}, conn: {}, outbox: {} };
  var scrapes = 0;

  if (!(interval >= 1 && interval <= 60)) interval = 2;

  function $(id) { return document.getElementById(id); }

  /* Prometheus text format -> {name: [{l: {label: value}, v: number}]} */
  function parse(text) {
    var m = {}, lines = text.split('\n');
    var re = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
    var lre = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

    for (var i = 0; i < lines.length; i++) {
      var r, x, l = {}, v;

      if (lines[i] === '' || lines[i][0] === '#' || !(r = re.exec(lines[i]))) continue;
      lre.lastIndex = 0;
      while (r[2] && (x = lre.exec(r[2]))) {
        l[x[1]] = x[2].replace(/\\(.)/g, function (_, c) { return c === 'n' ? '\n' : c; });
      }
      v = r[3] === '+Inf' ? Infinity : r[3] === '-Inf' ? -Infinity : parseFloat(r[3]);
      (m[r[1]] = m[r[1]] || []).push({ l: l, v: v });
    }
    return m;
  }

  function all(m, name) { return m[name] || []; }
  function one(m, name) { return m[name] && m[name].length ? m[name][0].v : null; }
  function labelKey(l) {
    return Object.keys(l).sort().map(function (k) { return k + '=' + l[k]; }).join(',');
  }
  function valueOf(m, name, l) {
    var want = labelKey(l), s = all(m, name);

    for (var i = 0; i < s.length; i++) if (labelKey(s[i].l) === want) return s[i].v;
    return null;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined || isNaN(v)) return '–';
    return v.toLocaleString('en-US', { maximumFractionDigits: digits || 0 });
  }
  function fmtAge(s) {
    if (s === null || s === undefined) return '–';
    s = Math.max(0, Math.round(s));
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' d';
  }
  function setText(id, text, cls) {
    var e = $(id);

    e.textContent = text;
    if (cls !== undefined) e.className = 'value ' + cls;
  }

  function push(group, name, t, v) {
    var s = group[name] = group[name] || [];

    s.push([t, v]);
    while (s.length && s[0][0] < t - WINDOW_S) s.shift();
  }

  /* Counter increase per second between two scrapes (a restart counts from zero). */
  function rate(v, pv, dt) {
    if (v === null || dt <= 0) return null;
    if (pv === null) pv = 0; /* a series appears once it is non-zero */
    return (v >= pv ? v - pv : v) / dt;
  }

  /* The worker's histogram summed over routes (without SKIP_ROUTES): {le: count}, sum. */
  function histogram(m) {
    var b = {}, sum = 0, s = all(m, 'portseal_http_request_seconds_bucket');

    for (var i = 0; i < s.length; i++) {
      if (SKIP_ROUTES[s[i].l.route]) continue;
      b[s[i].l.le] = (b[s[i].l.le] || 0) + s[i].v;
    }
    s = all(m, 'portseal_http_request_seconds_sum');
    for (i = 0; i < s.length; i++) if (!SKIP_ROUTES[s[i].l.route]) sum += s[i].v;
    return { b: b, sum: sum };
  }

  /* q-quantile of cumulative buckets (as Prometheus' histogram_quantile), seconds. */
  function quantile(q, b) {
    var les = Object.keys(b).map(function (k) { return [k === '+Inf' ? Infinity : parseFloat(k), b[k]]; });
    var total = b['+Inf'] || 0, lo = 0, below = 0;

    les.sort(function (x, y) { return x[0] - y[0]; });
    if (total <= 0) return null;
    for (var i = 0; i < les.length; i++) {
      var le = les[i][0], c = les[i][1];

      if (c >= q * total) {
        if (le === Infinity) return lo;
        return lo + (le - lo) * (c > below ? (q * total - below) / (c - below) : 1);
      }
      lo = le;
      below = c;
    }
    return lo;
  }

  function latency(m, pm, t) {
    var w = all(m, 'portseal_http_request_seconds_count')[0];
    var pw = pm && all(pm, 'portseal_http_request_seconds_count')[0];
    var h, ph, d = {}, n;

    $('lat-worker').textContent = w ? 'worker ' + w.l.worker : 'worker';
    if (!w || !pw || w.l.worker !== pw.l.worker) return; /* another worker: no delta */
    h = histogram(m);
    ph = histogram(pm);
    Object.keys(h.b).forEach(function (le) { d[le] = h.b[le] - (ph.b[le] || 0); });
    n = d['+Inf'] || 0;
    if (n < 0) return; /* the worker restarted */
    push(charts.lat, 'mean', t, n > 0 ? (h.sum - ph.sum) / n * 1000 : null);
    push(charts.lat, 'p95', t, n > 0 ? quantile(0.95, d) * 1000 : null);
  }

  function tiles(m, t, dt) {
    var kh = one(m, 'portseal_keyholder_up'), hsm = one(m, 'portseal_hsm_up');
    var cp = one(m, 'portseal_ledger_checkpoint_timestamp_seconds');
    var conn = all(m, 'portseal_connections_open')[0];
    var pending = all(m, 'portseal_keyholder_pending')[0];
    var total = one(m, 'portseal_signatures_total');
    var r = prev ? rate(total, one(prev.m, 'portseal_signatures_total'), dt) : null;

    setText('v-keyholder', kh === 1 ? 'up' : 'down', kh === 1 ? 'ok' : 'bad');
    setText('v-hsm', hsm === 1 ? 'up' : hsm === 0 ? 'down' : '–', hsm === 1 ? 'ok' : 'bad');
    setText('v-signatures', fmt(total));
    setText('v-sigrate', fmt(r, 1));
    setText('v-hsm-errors', fmt(one(m, 'portseal_hsm_errors_total')),
      one(m, 'portseal_hsm_errors_total') > 0 ? 'bad' : '');
    setText('v-ledger', fmt(one(m, 'portseal_ledger_leaves')));
    setText('v-checkpoint', cp === null ? 'none' : fmtAge(t - cp) + ' ago');
    $('v-checkpoint').title = cp === null ? '' : new Date(cp * 1000).toISOString() + ', ' +
      fmt(one(m, 'portseal_ledger_checkpoint_leaves')) + ' leaves';
    setText('v-connections', conn ? fmt(conn.v) : '–');
    setText('v-pending', pending ? fmt(pending.v) : '–');
    $('conn-worker').textContent = conn ? 'worker ' + conn.l.worker : 'worker';
    if (conn) push(charts.conn, 'worker ' + conn.l.worker, t, conn.v);
  }

  function signatureRates(m, t, dt) {
    var s = all(m, 'portseal_signatures_by_key_total'), byKey = {};

    if (!prev) return;
    for (var i = 0; i < s.length; i++) {
      var r = rate(s[i].v, valueOf(prev.m, 'portseal_signatures_by_key_total', s[i].l), dt);
      var k = s[i].l.key;

      byKey[k] = (byKey[k] || 0) + (r || 0);
    }
    Object.keys(charts.sigs).forEach(function (k) { if (!(k in byKey)) byKey[k] = 0; });
    Object.keys(byKey).forEach(function (k) { push(charts.sigs, k, t, byKey[k]); });
  }

  function cell(tr, text, cls) {
    var td = document.createElement('td');

    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function partners(m, t) {
    var names = {}, body = $('partners').tBodies[0];
    var fams = ['portseal_p2p_outbox_pending', 'portseal_aeo_applied_seq'];

    fams.forEach(function (f) { all(m, f).forEach(function (s) { names[s.l.partner] = 1; }); });
    names = Object.keys(names).sort();
    $('no-partners').className = names.length ? 'note hidden' : 'note';
    while (body.firstChild) body.removeChild(body.firstChild);
    names.forEach(function (p) {
      var tr = document.createElement('tr'), l = { partner: p };
      var pending = valueOf(m, 'portseal_p2p_outbox_pending', l);
      var age = valueOf(m, 'portseal_p2p_outbox_oldest_age_seconds', l);
      var aeo = all(m, 'portseal_aeo_applied_seq').filter(function (s) {
        return s.l.partner === p;
      })[0];
      var al = aeo ? aeo.l : null, lag = al ? valueOf(m, 'portseal_aeo_lag_records', al) : null;
      var fetched = al ? valueOf(m, 'portseal_aeo_fetch_age_seconds', al) : null;

      tr.id = 'partner-' + p;
      cell(tr, p);
      cell(tr, fmt(pending), pending > 0 ? 'warn' : '');
      cell(tr, pending > 0 ? fmtAge(age) : '–', age > 600 ? 'warn' : '');
      cell(tr, fmt(valueOf(m, 'portseal_p2p_inbox_messages', l)));
      cell(tr, al ? al.origin : '–');
      cell(tr, fmt(aeo ? aeo.v : null));
      cell(tr, fmt(al ? valueOf(m, 'portseal_aeo_notified_seq', al) : null));
      cell(tr, fmt(lag), lag > 0 ? 'warn' : '');
      cell(tr, al ? (fetched === null ? 'never' : fmtAge(fetched) + ' ago') : '–');
      body.appendChild(tr);
      if (pending !== null) push(charts.outbox, p, t, pending);
    });
  }

  function niceMax(v) {
    var mag;

    if (!(v > 0)) return 1;
    mag = Math.pow(10, Math.floor(Math.log10(v)));
    for (var f = 1; f <= 10; f = f === 1 ? 2 : f === 2 ? 5 : 10) if (f * mag >= v) return f * mag;
    return 10 * mag;
  }

  /* A line chart of group ({name: [[t, v|null]...]}) ending at now; legend with last values. */
  function draw(canvasId, legendId, group, now, digits) {
    var c = $(canvasId), ul = $(legendId), dpr = window.devicePixelRatio || 1;
    var w = c.clientWidth || c.width, h = c.clientHeight || c.height;
    var L = 46, R = 8, T = 8, B = 18, max = 0, names = Object.keys(group).sort(), ctx;

    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    names.forEach(function (n) {
      group[n].forEach(function (p) { if (p[1] !== null && p[1] > max) max = p[1]; });
    });
    max = niceMax(max);
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var y = T + (h - T - B) * i / 4;

      ctx.strokeStyle = '#e4e8ef';
      ctx.beginPath();
      ctx.moveTo(L, y);
      ctx.lineTo(w - R, y);
      ctx.stroke();
      ctx.fillStyle = '#667085';
      ctx.textAlign = 'right';
      ctx.fillText(fmt(max * (4 - i) / 4, 2), L - 4, y + 4);
    }
    ctx.textAlign = 'left';
    ctx.fillText('-5 min', L, h - 4);
    ctx.textAlign = 'right';
    ctx.fillText('now', w - R, h - 4);
    while (ul.firstChild) ul.removeChild(ul.firstChild);
    names.forEach(function (n, k) {
      var color = COLORS[k % COLORS.length], s = group[n], on = false, li, sw, last = null;

      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      s.forEach(function (p, i) {
        var x = L + (w - L - R) * (1 - (now - p[0]) / WINDOW_S);
        var y = T + (h - T - B) * (1 - (p[1] || 0) / max);

        if (p[1] === null) { on = false; return; }
        if (on) {
          ctx.lineTo(x, y);
        } else {
          ctx.moveTo(x, y);
          if (!s[i + 1] || s[i + 1][1] === null) ctx.arc(x, y, 1.5, 0, 2 * Math.PI); /* alone */
        }
        on = true;
        last = p[1];
      });
      ctx.stroke();
      li = document.createElement('li');
      sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = color;
      li.appendChild(sw);
      li.appendChild(document.createTextNode(n + ': ' + fmt(last, digits)));
      ul.appendChild(li);
    });
  }

  function update(m) {
    var t = Date.now() / 1000, dt = prev ? t - prev.t : 0;

    tiles(m, t, dt);
    signatureRates(m, t, dt);
    latency(m, prev && prev.m, t);
    partners(m, t);
    draw('c-sigs', 'l-sigs', charts.sigs, t, 1);
    draw('c-lat', 'l-lat', charts.lat, t, 2);
    draw('c-conn', 'l-conn', charts.conn, t, 0);
    draw('c-outbox', 'l-outbox', charts.outbox, t, 0);
    prev = { t: t, m: m };
    scrapes++;
    document.body.setAttribute('data-scrapes', String(scrapes));
    $('updated').textContent = 'updated ' + new Date(t * 1000).toLocaleTimeString();
  }

  function state(cls, text) {
    var e = $('state');

    e.className = 'state ' + cls;
    e.textContent = text;
  }

  /* An error body is {"error":{"code","message"}}: show its message. */
  function failure(resp) {
    return resp.text().then(function (text) {
      var msg = text;

      try { msg = JSON.parse(text).error.message; } catch (e) { /* not JSON */ }
      throw new Error('HTTP ' + resp.status + ': ' + String(msg).slice(0, 200));
    });
  }

  function scrape() {
    fetch('/metrics', { cache: 'no-store', credentials: 'same-origin' })
      .then(function (resp) { return resp.ok ? resp.text() : failure(resp); })
      .then(function (text) {
        update(parse(text));
        state('live', 'live');
      })
      .catch(function (e) { state('error', e.message || 'no answer'); })
      .then(function () { window.setTimeout(scrape, interval * 1000); });
  }

  $('interval').textContent = String(interval);
  scrape();
}());
