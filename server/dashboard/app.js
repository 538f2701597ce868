/*
 * traind dashboard — plain JavaScript, no framework, no build step.
 *
 * Pages (hash routing): #/jobs[?state=S], #/jobs/ID, #/datasets, #/models.
 * Every number comes from the REST API (/v1, docs/api.md).  With a token
 * set on the server, the first 401 opens a dialog that asks for it once;
 * it is kept in sessionStorage and sent as "Authorization: Bearer ...".
 * EventSource cannot send that header, so a job's event stream
 * (/v1/jobs/ID/events, server-sent events) is read with fetch() and parsed
 * here; when streaming is not possible the page polls /metrics instead.
 *
 * Safety: text from the server (dataset and model names, error messages)
 * only ever goes into the page as text nodes (el() below), never as HTML.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'traind.token';
  var STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
  var FINISHED = { succeeded: 1, failed: 1, cancelled: 1 };
  var LIST_POLL_MS = 2000;
  var JOB_POLL_MS = 1000;

  var token = '';
  try { token = sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { token = ''; }

  /* What the current page started: cleared when the page changes. */
  var page = { timers: [], aborts: [], cleanups: [], gen: 0 };
  var authPending = false;

  /* ---------------------------------------------------------------------
   * DOM helpers */

  /* el('td', {class: 'num', title: t}, child, 'text', ...): strings become
   * text nodes; attributes are set with setAttribute (never innerHTML). */
  function el(tag, attrs) {
    var n = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'onclick' || k === 'onchange' || k === 'onsubmit') n.addEventListener(k.slice(2), v);
        else if (k === 'text') n.textContent = String(v);
        else n.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(n, arguments[i]);
    return n;
  }

  /* append(parent, child, ...): nodes, strings (as text), arrays; null skipped */
  function append(n) {
    for (var i = 1; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) c.forEach(function (x) { append(n, x); });
      else n.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  }

  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); return n; }

  function $(id) { return document.getElementById(id); }

  /* ---------------------------------------------------------------------
   * Formatting */

  function isNum(v) { return typeof v === 'number' && isFinite(v); }

  /* losses: 4 significant digits */
  function fmtLoss(v) {
    if (!isNum(v)) return '–';
    if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(3);
    return String(Number(v.toPrecision(4)));
  }

  /* accuracies: a percentage */
  function fmtPct(v, digits) {
    if (!isNum(v)) return '–';
    return (v * 100).toFixed(digits === undefined ? 1 : digits) + '%';
  }

  function fmtInt(v) {
    if (!isNum(v)) return '–';
    return Math.round(v).toLocaleString('en-US');
  }

  function fmtRate(v) {
    if (!isNum(v)) return '–';
    if (v >= 1e6) return (v / 1e6).toFixed(2) + 'M/s';
    if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k/s';
    return v.toFixed(0) + '/s';
  }

  function fmtBytes(v) {
    if (!isNum(v)) return '–';
    var u = ['B', 'KB', 'MB', 'GB', 'TB'], i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + u[i];
  }

  function fmtDuration(s) {
    if (!isNum(s) || s < 0) return '–';
    s = Math.round(s);
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (d > 0) return d + 'd ' + (h % 24) + 'h';
    if (h > 0) return h + 'h ' + (m % 60) + 'm';
    return m + 'm ' + (s % 60) + 's';
  }

  function fmtTime(iso) {
    if (!iso) return '–';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    var pad = function (x) { return (x < 10 ? '0' : '') + x; };
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function fmtAgo(iso) {
    if (!iso) return '–';
    var t = new Date(iso).getTime();
    if (isNaN(t)) return iso;
    var s = Math.max(0, (Date.now() - t) / 1000);
    if (s < 45) return 'just now';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }

  function fmtShape(a) {
    return Array.isArray(a) ? '[' + a.join(', ') + ']' : '–';
  }

  function badge(state) {
    return el('span', { class: 'badge ' + state, 'data-state': state }, state);
  }

  function progressBar(fraction, state, big) {
    var f = isNum(fraction) ? Math.max(0, Math.min(1, fraction)) : 0;
    var span = el('span');
    span.style.width = (f * 100).toFixed(1) + '%';
    return el('div', { class: 'progress' + (big ? ' big' : ''), role: 'progressbar',
      'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(f * 100) },
      el('div', { class: 'bar ' + (state || '') }, span),
      el('span', { class: 'pct' }, Math.floor(f * 100) + '%'));
  }

  /* ---------------------------------------------------------------------
   * The API */

  function ApiError(status, code, message, path) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.path = path;
  }

  function authHeaders(extra) {
    var h = extra || {};
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  }

  /* fetch() of the API: resolves to the parsed JSON (or the Response with
   * raw: true); rejects with an ApiError carrying the server's error object. */
  function api(path, opts) {
    opts = opts || {};
    if (authPending) return Promise.reject(new ApiError(401, 'unauthorized', 'waiting for the token'));
    var init = { method: opts.method || 'GET', headers: authHeaders(opts.headers), cache: 'no-store' };
    if (opts.body !== undefined) {
      init.body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      init.headers['Content-Type'] = 'application/json';
    }
    if (opts.signal) init.signal = opts.signal;
    return fetch(path, init).then(function (res) {
      if (res.status === 401) {
        askToken(token ? 'The server did not accept this token.' : '');
        throw new ApiError(401, 'unauthorized', 'this server needs a token');
      }
      if (res.ok && opts.raw) return res;
      if (res.status === 204) return null;
      return res.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        if (res.ok) return body;
        var e = body && body.error;
        throw new ApiError(res.status, e && e.code || 'http_' + res.status,
          e && e.message || (res.statusText || 'request failed'), e && e.path);
      });
    }, function (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ApiError(0, 'network', 'cannot reach the server (' + (err && err.message || err) + ')');
    });
  }

  function errorBanner(err, what) {
    if (err && err.name === 'AbortError') return null;
    var box = el('div', { class: 'banner error', role: 'alert' });
    append(box, what ? el('strong', null, what + ': ') : null);
    if (err instanceof ApiError) {
      append(box, err.message);
      append(box, ' ');
      append(box, el('span', { class: 'code' }, '(' + (err.status ? 'HTTP ' + err.status + ' ' : '') +
        err.code + (err.path ? ' at ' + err.path : '') + ')'));
    } else {
      append(box, String(err && err.message || err));
    }
    return box;
  }

  /* ---------------------------------------------------------------------
   * The token */

  function askToken(message) {
    var d = $('token-dialog');
    var e = $('token-error');
    authPending = true;
    if (message) { e.textContent = message; e.hidden = false; } else { e.hidden = true; }
    if (!d.open) {
      if (typeof d.showModal === 'function') d.showModal(); else d.setAttribute('open', '');
      $('token-input').value = '';
      $('token-input').focus();
    }
  }

  function setupToken() {
    $('token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var v = $('token-input').value.trim();
      if (!v) return;
      token = v;
      try { sessionStorage.setItem(TOKEN_KEY, v); } catch (e) { /* private mode: memory only */ }
      authPending = false;
      $('token-dialog').close();
      $('forget-token').hidden = false;
      render();
    });
    $('token-dialog').addEventListener('cancel', function (ev) { ev.preventDefault(); });
    $('forget-token').hidden = !token;
    $('forget-token').addEventListener('click', function () {
      token = '';
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing kept */ }
      $('forget-token').hidden = true;
      render();
    });
  }

  /* ---------------------------------------------------------------------
   * Page lifetime: timers, fetches and streams end with their page */

  function endPage() {
    page.timers.forEach(clearTimeout);
    page.aborts.forEach(function (a) { a.abort(); });
    page.cleanups.forEach(function (f) { try { f(); } catch (e) { /* already gone */ } });
    page = { timers: [], aborts: [], cleanups: [], gen: page.gen + 1 };
  }

  function alive(gen) { return gen === page.gen; }

  /* Calls fn now and then every ms while the page lives; fn returns a promise. */
  function every(ms, fn) {
    var gen = page.gen;
    function tick() {
      if (!alive(gen)) return;
      Promise.resolve().then(fn).catch(function () { /* shown by fn */ }).then(function () {
        if (alive(gen)) page.timers.push(setTimeout(tick, ms));
      });
    }
    tick();
  }

  function abortable() {
    var a = new AbortController();
    page.aborts.push(a);
    return a.signal;
  }

  /* ---------------------------------------------------------------------
   * Routing */

  function parseHash() {
    var h = location.hash.replace(/^#/, '') || '/jobs';
    var q = {};
    var qi = h.indexOf('?');
    if (qi >= 0) {
      h.slice(qi + 1).split('&').forEach(function (kv) {
        var p = kv.split('=');
        if (p[0]) q[decodeURIComponent(p[0])] = decodeURIComponent(p[1] || '');
      });
      h = h.slice(0, qi);
    }
    return { parts: h.split('/').filter(Boolean), query: q };
  }

  function render() {
    endPage();
    var r = parseHash();
    var main = clear($('main'));
    var section = r.parts[0] || 'jobs';
    document.querySelectorAll('.tabs a').forEach(function (a) {
      a.classList.toggle('active', a.getAttribute('data-section') === section);
    });
    if (section === 'jobs' && r.parts.length === 2 && /^[1-9][0-9]*$/.test(r.parts[1])) {
      jobPage(main, Number(r.parts[1]));
    } else if (section === 'jobs' && r.parts.length === 1) {
      jobsPage(main, r.query.state || '');
    } else if (section === 'datasets' && r.parts.length === 1) {
      datasetsPage(main);
    } else if (section === 'models' && r.parts.length === 1) {
      modelsPage(main);
    } else {
      document.title = 'Not found · traind';
      append(main, el('div', { class: 'banner note' }, 'There is no page ' + location.hash + '. ',
        el('a', { href: '#/jobs' }, 'Go to the jobs.')));
    }
  }

  /* Names of datasets and models, for the lists (refreshed with them). */
  var names = { datasets: {}, models: {} };

  function loadNames(signal) {
    return Promise.all([
      api('/v1/datasets', { signal: signal }).then(function (b) {
        var m = {};
        (b && b.datasets || []).forEach(function (d) { m[d.id] = d; });
        names.datasets = m;
      }),
      api('/v1/models', { signal: signal }).then(function (b) {
        var m = {};
        (b && b.models || []).forEach(function (d) { m[d.id] = d; });
        names.models = m;
      })
    ]);
  }

  function modelLabel(job) {
    if (job.model && names.models[job.model]) return names.models[job.model].name;
    if (job.model) return 'model ' + job.model;
    var layers = job.definition && job.definition.layers;
    return 'inline' + (Array.isArray(layers) ? ' (' + layers.length + ' layers)' : '');
  }

  function datasetLabel(id) {
    if (!id) return '–';
    return names.datasets[id] ? names.datasets[id].name : 'dataset ' + id;
  }

  /* ---------------------------------------------------------------------
   * #/jobs */

  function jobsPage(main, stateFilter) {
    if (stateFilter && STATES.indexOf(stateFilter) < 0) stateFilter = '';
    document.title = 'Jobs · traind';
    var chips = el('div', { class: 'chips', role: 'navigation', 'aria-label': 'Filter by state' });
    [''].concat(STATES).forEach(function (s) {
      append(chips, el('a', { class: 'chip' + (s === stateFilter ? ' active' : ''),
        href: s ? '#/jobs?state=' + s : '#/jobs', 'data-filter': s || 'all' }, s || 'all'));
    });
    var status = el('span', { class: 'live', id: 'list-live' }, 'connecting');
    append(main, el('div', { class: 'page-head' }, el('h1', null, 'Jobs'), chips,
      el('span', { class: 'spacer' }), status));
    var errorSlot = el('div');
    var tbody = el('tbody', { id: 'jobs-body' });
    var table = el('table', { id: 'jobs-table' },
      el('thead', null, el('tr', null,
        el('th', null, 'Job'), el('th', null, 'State'), el('th', { class: 'hide-narrow' }, 'Model'),
        el('th', { class: 'hide-narrow' }, 'Dataset'), el('th', null, 'Progress'),
        el('th', { class: 'num' }, 'Epoch'), el('th', { class: 'num' }, 'ETA'),
        el('th', { class: 'num' }, 'Loss'), el('th', { class: 'num' }, 'Accuracy'),
        el('th', { class: 'hide-narrow' }, 'Created'))),
      tbody);
    append(main, errorSlot, el('div', { class: 'panel' }, el('div', { class: 'table-wrap' }, table)));

    var signal = abortable();
    var namesAt = 0;
    every(LIST_POLL_MS, function () {
      var q = '/v1/jobs?limit=100' + (stateFilter ? '&state=' + stateFilter : '');
      var needNames = Date.now() - namesAt > 10000;
      return Promise.all([api(q, { signal: signal }), needNames ? loadNames(signal) : null])
        .then(function (res) {
          if (needNames) namesAt = Date.now();
          clear(errorSlot);
          status.className = 'live on';
          status.textContent = 'live';
          fillJobs(tbody, res[0] && res[0].jobs || [], stateFilter);
        }, function (err) {
          status.className = 'live retry';
          status.textContent = 'retrying';
          var b = errorBanner(err, 'Cannot list the jobs');
          if (b && !(err instanceof ApiError && err.status === 401)) append(clear(errorSlot), b);
        });
    });
  }

  function fillJobs(tbody, jobs, stateFilter) {
    clear(tbody);
    if (!jobs.length) {
      append(tbody, el('tr', null, el('td', { colspan: 10, class: 'empty' },
        stateFilter ? 'No ' + stateFilter + ' jobs.' :
          'No jobs yet. Upload a dataset and POST /v1/jobs (see docs/api.md); they appear here.')));
      return;
    }
    jobs.forEach(function (j) {
      var p = j.progress || {};
      var m = j.last_metrics || {};
      var href = '#/jobs/' + j.id;
      var lossCell = el('td', { class: 'num' }, fmtLoss(m.loss));
      if (isNum(m.val_loss)) append(lossCell, el('div', { class: 'muted' }, 'val ' + fmtLoss(m.val_loss)));
      var accCell = el('td', { class: 'num' }, fmtPct(m.accuracy));
      if (isNum(m.val_accuracy)) append(accCell, el('div', { class: 'muted' }, 'val ' + fmtPct(m.val_accuracy)));
      var tr = el('tr', { class: 'clickable', 'data-job': j.id, 'data-state': j.state },
        el('td', null, el('a', { href: href }, '#' + j.id)),
        el('td', null, badge(j.state), j.cancel_requested && !FINISHED[j.state] ?
          el('div', { class: 'muted' }, 'cancelling') : null),
        el('td', { class: 'hide-narrow' }, modelLabel(j)),
        el('td', { class: 'hide-narrow' }, datasetLabel(j.dataset)),
        el('td', null, progressBar(p.fraction, j.state)),
        el('td', { class: 'num' }, (p.epoch || 0) + ' / ' + (p.epochs || '?')),
        el('td', { class: 'num' }, j.state === 'running' ? fmtDuration(p.eta_seconds) :
          j.state === 'queued' && j.queue_position ? 'queue #' + j.queue_position : '–'),
        lossCell, accCell,
        el('td', { class: 'hide-narrow', title: fmtTime(j.created_at) }, fmtAgo(j.created_at)));
      tr.addEventListener('click', function (ev) {
        if (ev.target.closest('a')) return;
        location.hash = href;
      });
      append(tbody, tr);
    });
  }

  /* ---------------------------------------------------------------------
   * #/jobs/ID */

  function isClassifier(def) {
    var l = def && def.loss;
    return l === 'cross_entropy' || l === 'binary_cross_entropy';
  }

  function hasValidation(job) {
    if (job.validation) return true;
    var t = job.training || {};
    return isNum(t.validation_split) && t.validation_split > 0;
  }

  function jobPage(main, id) {
    document.title = 'Job ' + id + ' · traind';
    var gen = page.gen;
    var signal = abortable();
    append(main, el('p', { class: 'muted' }, 'Loading job ' + id + '…'));
    api('/v1/jobs/' + id, { signal: signal }).then(function (job) {
      if (!alive(gen)) return;
      clear(main);
      buildJobPage(main, job, signal);
    }, function (err) {
      if (!alive(gen)) return;
      clear(main);
      append(main, el('div', { class: 'page-head' }, el('a', { href: '#/jobs' }, '← Jobs')));
      append(main, errorBanner(err, err.status === 404 ? 'Job ' + id + ' not found' : 'Cannot load job ' + id));
    });
  }

  function buildJobPage(main, job, signal) {
    var id = job.id;
    var gen = page.gen;

    /* header: title, state, buttons */
    var stateSlot = el('span', { id: 'job-state' });
    var cancelBtn = el('button', { type: 'button', class: 'danger', id: 'cancel-job' }, 'Cancel job');
    var whichSel = el('select', { id: 'weights-which', 'aria-label': 'Which weights' },
      el('option', { value: 'final' }, 'final weights'),
      el('option', { value: 'best' }, 'best epoch'),
      el('option', { value: 'latest' }, 'latest checkpoint'));
    var dlBtn = el('button', { type: 'button', id: 'download-weights' }, 'Download weights');
    var actionMsg = el('div');
    append(main, el('div', { class: 'page-head' },
      el('a', { href: '#/jobs' }, '← Jobs'),
      el('h1', null, 'Job #' + id), stateSlot,
      el('span', { class: 'spacer' }),
      whichSel, dlBtn, cancelBtn));
    append(main, actionMsg);

    var outcome = el('div', { id: 'job-outcome' });
    append(main, outcome);

    /* progress */
    var progSlot = el('div');
    var statsSlot = el('div', { class: 'stats' });
    append(main, el('div', { class: 'panel' }, progSlot, statsSlot));

    /* chart */
    var live = el('span', { class: 'live', id: 'stream-state' }, 'connecting');
    var logBox = el('input', { type: 'checkbox', id: 'log-scale' });
    var chartBox = el('div', { class: 'chart', id: 'job-chart', 'data-points': 0 });
    append(main, el('div', { class: 'panel' },
      el('div', { class: 'chart-head' }, el('h2', null, 'Loss and accuracy by epoch'), live,
        el('span', { class: 'spacer' }),
        el('label', { class: 'check' }, logBox, 'log scale for loss')),
      chartBox));

    /* details */
    var modelPanel = el('div', { class: 'panel' }, el('h2', null, 'Model'), el('p', { class: 'muted' }, 'Loading…'));
    var dataPanel = el('div', { class: 'panel' }, el('h2', null, 'Dataset'), el('p', { class: 'muted' }, 'Loading…'));
    var trainPanel = el('div', { class: 'panel' }, el('h2', null, 'Training settings'));
    append(main, el('div', { class: 'grid' }, el('div', { class: 'stack' }, modelPanel, dataPanel), trainPanel));

    var chart = makeChart(chartBox, job);
    page.cleanups.push(function () { chart.destroy(); });
    logBox.addEventListener('change', function () { chart.setLogScale(logBox.checked); });

    function update(j) {
      job = j;
      clear(stateSlot);
      append(stateSlot, badge(j.state));
      if (j.cancel_requested && !FINISHED[j.state]) append(stateSlot, ' ', el('span', { class: 'muted' }, 'cancelling…'));
      cancelBtn.hidden = !!FINISHED[j.state];
      cancelBtn.disabled = !!j.cancel_requested;
      var p = j.progress || {};
      clear(progSlot);
      append(progSlot, progressBar(p.fraction, j.state, true));
      var m = j.last_metrics || {};
      var best = j.best_metrics || {};
      clear(statsSlot);
      var stat = function (label, value, sid) {
        return el('div', { class: 'stat' }, el('div', { class: 'label' }, label),
          el('div', { class: 'value', id: sid || null }, value));
      };
      append(statsSlot, [
        stat('Epoch', Math.max(p.epoch || 0, m.epoch || 0) + ' / ' + (p.epochs || '?'), 'stat-epoch'),
        j.state === 'running' ? stat('Step', fmtInt(p.step) + ' / ' + fmtInt(p.steps_per_epoch)) : null,
        stat('Loss', fmtLoss(m.loss), 'stat-loss'),
        isNum(m.val_loss) ? stat('Val loss', fmtLoss(m.val_loss)) : null,
        isNum(m.accuracy) ? stat('Accuracy', fmtPct(m.accuracy, 2), 'stat-accuracy') : null,
        isNum(m.val_accuracy) ? stat('Val accuracy', fmtPct(m.val_accuracy, 2)) : null,
        isNum(best.epoch) ? stat('Best epoch', String(best.epoch)) : null,
        stat('Speed', fmtRate(p.samples_per_second) .replace('/s', ' samples/s')),
        j.state === 'running' ? stat('ETA', fmtDuration(p.eta_seconds), 'stat-eta') : null,
        stat(FINISHED[j.state] ? 'Took' : 'Elapsed', fmtDuration(isNum(m.elapsed) ? m.elapsed : null))
      ]);
      clear(outcome);
      if (j.state === 'failed') {
        append(outcome, el('div', { class: 'banner error', role: 'status' }, el('strong', null, 'Failed'),
          j.stop_reason ? ' (' + j.stop_reason + ')' : '', j.error ? ': ' + j.error : ''));
      } else if (j.state === 'succeeded') {
        append(outcome, el('div', { class: 'banner ok', role: 'status' }, el('strong', null, 'Succeeded'),
          ' — stopped by ' + (j.stop_reason || '?') + (j.finished_at ? ' at ' + fmtTime(j.finished_at) : '') + '.'));
      } else if (j.state === 'cancelled') {
        append(outcome, el('div', { class: 'banner note', role: 'status' }, el('strong', null, 'Cancelled'),
          (j.finished_at ? ' at ' + fmtTime(j.finished_at) : '') + '; the weights reached are kept.'));
      } else if (j.state === 'queued') {
        append(outcome, el('div', { class: 'banner note', role: 'status' }, 'Waiting in the queue' +
          (j.queue_position ? ' (position ' + j.queue_position + ')' : '') + '.'));
      }
      whichSel.value = FINISHED[j.state] ? 'final' : 'latest';
      fillTraining(trainPanel, j);
    }
    update(job);
    fillModel(modelPanel, job, signal);
    fillDataset(dataPanel, job, signal);

    cancelBtn.addEventListener('click', function () {
      if (!window.confirm('Cancel job #' + id + '? It stops within one training step and keeps its weights.')) return;
      cancelBtn.disabled = true;
      api('/v1/jobs/' + id + '/cancel', { method: 'POST', signal: signal }).then(function (j) {
        clear(actionMsg);
        update(j);
      }, function (err) {
        cancelBtn.disabled = false;
        append(clear(actionMsg), errorBanner(err, 'Cannot cancel'));
      });
    });

    dlBtn.addEventListener('click', function () {
      var which = whichSel.value;
      dlBtn.disabled = true;
      api('/v1/jobs/' + id + '/weights?which=' + which, { raw: true, signal: signal }).then(function (res) {
        return res.blob().then(function (blob) {
          var url = URL.createObjectURL(blob);
          var a = el('a', { href: url, download: 'job-' + id + '-' + which + '.safetensors' });
          document.body.appendChild(a);
          a.click();
          a.remove();
          setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
          clear(actionMsg);
        });
      }).catch(function (err) {
        append(clear(actionMsg), errorBanner(err, 'Cannot download the weights'));
      }).then(function () { dlBtn.disabled = false; });
    });

    /* live: the event stream feeds the chart and says when the state
     * changes; a poll of the job keeps the step-level progress fresh */
    var polling = false;
    function refresh() {
      return api('/v1/jobs/' + id, { signal: signal }).then(function (j) {
        if (alive(gen)) update(j);
        return j;
      });
    }
    function poll() {
      if (polling) return;
      polling = true;
      every(JOB_POLL_MS, function () {
        if (FINISHED[job.state]) return null;
        return refresh().catch(function () { /* the stream state says it */ });
      });
    }
    poll();
    /* an epoch's numbers show as soon as its event arrives, between polls */
    var statsDue = false;
    function newEpoch(m) {
      chart.add(m);
      if (job.last_metrics && isNum(job.last_metrics.epoch) && job.last_metrics.epoch >= m.epoch) return;
      job.last_metrics = m;
      if (statsDue) return;
      statsDue = true;
      requestAnimationFrame(function () { statsDue = false; if (alive(gen)) update(job); });
    }
    followEvents(id, signal, {
      metric: function (m) { if (m.kind === 'epoch') newEpoch(m); },
      state: function () { refresh().catch(function () { /* retried by the poll */ }); },
      status: function (cls, text) { live.className = 'live ' + cls; live.textContent = text; },
      answered: function () { chart.answered(job); }
    });
  }

  function fillTraining(panel, job) {
    clear(panel);
    append(panel, el('h2', null, 'Training settings'));
    var dl = el('dl', { class: 'kv', id: 'training-settings' });
    function row(k, v) { append(dl, el('dt', null, k), el('dd', null, v)); }
    function flat(prefix, o) {
      Object.keys(o || {}).forEach(function (k) {
        var v = o[k];
        var key = prefix ? prefix + '.' + k : k;
        if (v && typeof v === 'object' && !Array.isArray(v)) flat(key, v);
        else row(key, v === null ? 'none' : Array.isArray(v) ? JSON.stringify(v) : String(v));
      });
    }
    flat('', job.training);
    if (job.validation) row('validation', job.validation.dataset ? 'dataset ' + job.validation.dataset :
      'split ' + job.validation.split);
    row('priority', String(job.priority));
    row('checkpoint_every', String(job.checkpoint_every));
    if (job.log_every_steps) row('log_every_steps', String(job.log_every_steps));
    row('threads', job.threads ? String(job.threads) : '–');
    row('attempts', String(job.attempts));
    row('created', fmtTime(job.created_at));
    row('started', fmtTime(job.started_at));
    row('finished', fmtTime(job.finished_at));
    append(panel, dl);
  }

  /* The model's summary: the stored model's, or for an inline definition the
   * one a dry run of POST /v1/models answers (it stores nothing). */
  function fillModel(panel, job, signal) {
    var def = job.definition || {};
    var p = job.model ? api('/v1/models/' + job.model, { signal: signal }) : Promise.reject(null);
    p.catch(function () {
      return api('/v1/models?dry_run=true', { method: 'POST', body: def, signal: signal });
    }).then(function (m) {
      clear(panel);
      append(panel, el('h2', null, 'Model', m && m.name ? ': ' : '', m && m.name ? m.name : ''));
      var s = m.summary || {};
      append(panel, el('div', { class: 'stats' },
        el('div', { class: 'stat' }, el('div', { class: 'label' }, 'Parameters'),
          el('div', { class: 'value', id: 'model-params' }, fmtInt(s.total_params))),
        el('div', { class: 'stat' }, el('div', { class: 'label' }, 'Input'), el('div', { class: 'value' }, fmtShape(s.input))),
        el('div', { class: 'stat' }, el('div', { class: 'label' }, 'Output'), el('div', { class: 'value' }, fmtShape(s.output))),
        el('div', { class: 'stat' }, el('div', { class: 'label' }, 'Loss'), el('div', { class: 'value' }, def.loss || '–'))));
      append(panel, layersTable(s, def));
    }).catch(function (err) {
      clear(panel);
      append(panel, el('h2', null, 'Model'), errorBanner(err, 'Cannot read the model'));
    });
  }

  /* What a layer is, in a few words: its type and main options. */
  function layerWords(d) {
    if (!d) return '';
    var bits = [];
    ['units', 'filters', 'kernel', 'kernel_size', 'stride', 'padding', 'size', 'rate', 'activation',
      'hidden', 'return_sequences'].forEach(function (k) {
      if (d[k] !== undefined && d[k] !== null && k !== 'type') {
        bits.push(k + ' ' + (Array.isArray(d[k]) ? d[k].join('×') : d[k]));
      }
    });
    return bits.join(', ');
  }

  function layersTable(summary, def) {
    var rows = (summary.layers || []).map(function (l, i) {
      var d = def.layers && def.layers[l.index !== undefined ? l.index : i];
      return el('tr', null, el('td', { class: 'num' }, String(l.index !== undefined ? l.index : i)),
        el('td', null, el('strong', null, l.type || (d && d.type) || '?'),
          el('div', { class: 'muted' }, layerWords(d))),
        el('td', { class: 'mono' }, fmtShape(l.output_shape)),
        el('td', { class: 'num' }, fmtInt(l.params)));
    });
    return el('div', { class: 'table-wrap' }, el('table', { id: 'model-layers' },
      el('thead', null, el('tr', null, el('th', { class: 'num' }, '#'), el('th', null, 'Layer'),
        el('th', null, 'Output shape'), el('th', { class: 'num' }, 'Params'))),
      el('tbody', null, rows)));
  }

  function fillDataset(panel, job, signal) {
    function one(id, title) {
      return api('/v1/datasets/' + id, { signal: signal }).then(function (d) {
        return el('div', null, el('h2', null, title + ': ', d.name), datasetKv(d));
      }, function (err) {
        if (err && err.status === 404) return el('div', null, el('h2', null, title), el('p', { class: 'muted' }, 'Dataset ' + id + ' was deleted.'));
        return el('div', null, el('h2', null, title), errorBanner(err, 'Cannot read dataset ' + id));
      });
    }
    var parts = [one(job.dataset, 'Dataset')];
    if (job.validation && job.validation.dataset) parts.push(one(job.validation.dataset, 'Validation'));
    Promise.all(parts).then(function (nodes) {
      clear(panel);
      append(panel, nodes);
    });
  }

  /* The classes: their count, then each name as an item of its own (a name
   * may hold a comma, so joining them with commas would be ambiguous); the
   * first CLASSES_SHOWN, then how many more. */
  var CLASSES_SHOWN = 8;
  function classesList(d) {
    if (!d.n_classes) return 'numeric targets';
    var c = d.classes || [];
    var items = c.slice(0, CLASSES_SHOWN).map(function (name) {
      return el('li', { title: name }, name);
    });
    if (c.length > CLASSES_SHOWN) items.push(el('li', { class: 'more' }, '+' + (c.length - CLASSES_SHOWN) + ' more'));
    return el('span', { class: 'classes' }, String(d.n_classes),
      el('ul', { class: 'class-list', 'aria-label': 'class names' }, items));
  }

  function datasetKv(d) {
    var dl = el('dl', { class: 'kv' });
    [['samples', fmtInt(d.n_samples)], ['x shape', fmtShape(d.x_shape)], ['y shape', fmtShape(d.y_shape)],
      ['classes', classesList(d)], ['format', d.format], ['size', fmtBytes(d.bytes)],
      ['uploaded', fmtTime(d.created_at)]].forEach(function (kv) {
      append(dl, el('dt', null, kv[0]), el('dd', null, kv[1]));
    });
    return dl;
  }

  /* ---------------------------------------------------------------------
   * The chart: uPlot, epochs on x, loss on the left axis, accuracy (0..100%)
   * on the right; training solid, validation dashed; the legend shows the
   * values under the cursor. */

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  /* The legend shows the values under the cursor, and the newest ones
   * while the cursor is off the chart (uPlot passes idx null then). */
  function legendValue(fmt) {
    return function (u, v, sidx, idx) {
      if (idx === null || idx === undefined) {
        var col = u.data[sidx] || [];
        for (var i = col.length - 1; i >= 0 && (v === null || v === undefined); i--) v = col[i];
      }
      return v === null || v === undefined ? '–' : fmt(v);
    };
  }

  function makeChart(box, job) {
    var cls = isClassifier(job.definition);
    var val = hasValidation(job);
    var byEpoch = {};
    var epochs = [];
    var u = null;
    var logScale = false;
    var pending = false;
    /* "Loading" until the event stream first answers; then, while no
     * epoch is on the chart, "no epoch yet" unless the job says it has
     * finished epochs (their events are still on their way) */
    var NO_EPOCH = 'No epoch finished yet: the curve starts after the first one.';
    var placeholder = el('div', { class: 'empty', id: 'chart-placeholder', 'data-state': 'loading' }, 'Loading the curve…');
    append(box, placeholder);
    var answered = false;
    function showWaiting() {
      if (u || !answered) return;
      var has = job.last_metrics && isNum(job.last_metrics.epoch) && job.last_metrics.epoch > 0;
      placeholder.setAttribute('data-state', has ? 'loading' : 'empty');
      placeholder.textContent = has ? 'Loading the curve…' : NO_EPOCH;
    }

    function columns() {
      var xs = epochs.slice().sort(function (a, b) { return a - b; });
      var get = function (k) {
        return xs.map(function (e) {
          var v = byEpoch[e][k];
          return isNum(v) && (!logScale || k.indexOf('loss') < 0 || v > 0) ? v : null;
        });
      };
      var data = [xs, get('loss')];
      if (val) data.push(get('val_loss'));
      if (cls) { data.push(get('accuracy')); if (val) data.push(get('val_accuracy')); }
      return data;
    }

    function options(width) {
      var text = cssVar('--text', '#1c2430'), grid = cssVar('--grid', '#e6eaf0');
      var lossC = cssVar('--loss', '#2f6fdb'), accC = cssVar('--acc', '#e0822a');
      var lossVal = legendValue(fmtLoss);
      var accVal = legendValue(function (v) { return fmtPct(v, 2); });
      var series = [{ label: 'epoch', value: legendValue(String) },
        { label: 'loss', scale: 'loss', stroke: lossC, width: 2, value: lossVal, points: { size: 5 } }];
      if (val) series.push({ label: 'val loss', scale: 'loss', stroke: lossC, width: 2, dash: [7, 5], value: lossVal, points: { size: 5 } });
      if (cls) {
        series.push({ label: 'accuracy', scale: 'acc', stroke: accC, width: 2, value: accVal, points: { size: 5 } });
        if (val) series.push({ label: 'val accuracy', scale: 'acc', stroke: accC, width: 2, dash: [7, 5], value: accVal, points: { size: 5 } });
      }
      var axes = [
        { label: 'epoch', stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid },
          values: function (uu, vals) { return vals.map(function (v) { return Number.isInteger(v) ? String(v) : ''; }); } },
        { scale: 'loss', label: 'loss', stroke: lossC, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 64,
          values: function (uu, vals) { return vals.map(function (v) { return v === null ? '' : fmtLoss(v); }); } }
      ];
      if (cls) {
        axes.push({ scale: 'acc', label: 'accuracy', side: 1, stroke: accC, grid: { show: false }, ticks: { stroke: grid }, size: 60,
          values: function (uu, vals) { return vals.map(function (v) { return v === null ? '' : (v * 100).toFixed(0) + '%'; }); } });
      }
      var scales = { x: { time: false }, loss: logScale ? { distr: 3 } : { auto: true } };
      if (cls) scales.acc = { range: [0, 1] };
      return { width: width, height: Math.max(240, Math.min(380, Math.round(width * 0.42))),
        scales: scales, series: series, axes: axes,
        legend: { live: true }, cursor: { drag: { x: true, y: false }, points: { size: 7 } } };
    }

    function width() { return Math.max(280, box.clientWidth || 600); }

    function draw() {
      pending = false;
      var data = columns();
      box.setAttribute('data-points', String(data[0].length));
      if (!data[0].length) return;
      if (!u) {
        if (typeof window.uPlot !== 'function') {
          append(clear(box), el('div', { class: 'banner error' }, 'The chart library did not load.'));
          return;
        }
        clear(box);
        u = new window.uPlot(options(width()), data, box);
      } else {
        u.setData(data);
      }
    }

    function schedule() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(draw);
    }

    var ro = typeof ResizeObserver === 'function' ? new ResizeObserver(function () {
      if (u) { var o = options(width()); u.setSize({ width: o.width, height: o.height }); }
    }) : null;
    if (ro) ro.observe(box);

    return {
      /* the stream (or the poll) answered; j: the job as now known */
      answered: function (j) {
        answered = true;
        if (j) job = j;
        showWaiting();
      },
      add: function (m) {
        if (!isNum(m.epoch)) return;
        if (!byEpoch[m.epoch]) epochs.push(m.epoch);
        byEpoch[m.epoch] = m;
        schedule();
      },
      setLogScale: function (on) {
        logScale = on;
        if (u) { u.destroy(); u = null; }
        draw();
      },
      destroy: function () {
        if (ro) ro.disconnect();
        if (u) u.destroy();
        u = null;
      }
    };
  }

  /* ---------------------------------------------------------------------
   * Server-sent events over fetch(), so that the bearer token can go with
   * them.  Reconnects after a dropped connection with Last-Event-ID; the
   * stream ends by itself after a finished state.  Without streaming
   * (no Response.body), polls the metrics instead. */

  function followEvents(id, signal, on) {
    var lastId = 0;
    var done = false;

    function dispatch(ev) {
      if (ev.id) lastId = Number(ev.id) || lastId;
      if (!ev.data) return;
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (ev.event === 'metric') on.metric(data);
      else if (ev.event === 'state') {
        if (FINISHED[data.state]) done = true;
        on.state(data);
      }
    }

    function readStream(res) {
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buf = '';
      var first = true;
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) { if (first) on.answered(); return; }
          buf += decoder.decode(r.value, { stream: true }).replace(/\r\n?/g, '\n');
          var i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            var block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            var ev = { event: 'message', data: '', id: '' };
            var datas = [];
            block.split('\n').forEach(function (line) {
              if (!line || line.charAt(0) === ':') return;
              var c = line.indexOf(':');
              var field = c < 0 ? line : line.slice(0, c);
              var value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
              if (field === 'event') ev.event = value;
              else if (field === 'data') datas.push(value);
              else if (field === 'id') ev.id = value;
            });
            ev.data = datas.join('\n');
            dispatch(ev);
          }
          if (first) { first = false; on.answered(); }
          return pump();
        });
      }
      return pump();
    }

    function pollMetrics() {
      var since = 0;
      on.status('on', 'live (polling)');
      every(2000, function () {
        return api('/v1/jobs/' + id + '/metrics?kind=epoch&since=' + since, { signal: signal }).then(function (b) {
          (b.metrics || []).forEach(on.metric);
          since = b.next_since || since;
          on.answered();
        });
      });
    }

    function connect(delay) {
      if (signal.aborted) return;
      var h = authHeaders({ Accept: 'text/event-stream' });
      if (lastId) h['Last-Event-ID'] = String(lastId);
      fetch('/v1/jobs/' + id + '/events', { headers: h, signal: signal, cache: 'no-store' }).then(function (res) {
        if (res.status === 401) { askToken('The server did not accept this token.'); return; }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        if (!res.body || typeof res.body.getReader !== 'function') { pollMetrics(); return; }
        on.status('on', 'live');
        return readStream(res).then(function () {
          if (done) on.status('', 'finished');
          else connect(1000);
        });
      }).catch(function (err) {
        if (signal.aborted || (err && err.name === 'AbortError')) return;
        on.status('retry', 'reconnecting…');
        var next = Math.min(15000, (delay || 1000) * 2);
        page.timers.push(setTimeout(function () { connect(next); }, delay || 1000));
      });
    }
    connect(0);
  }

  /* ---------------------------------------------------------------------
   * #/datasets */

  function datasetsPage(main) {
    document.title = 'Datasets · traind';
    append(main, el('div', { class: 'page-head' }, el('h1', null, 'Datasets')));
    var slot = el('div', { class: 'panel' }, el('p', { class: 'muted' }, 'Loading…'));
    append(main, slot);
    var signal = abortable();
    api('/v1/datasets', { signal: signal }).then(function (b) {
      var list = b && b.datasets || [];
      clear(slot);
      if (!list.length) {
        append(slot, el('p', { class: 'empty' }, 'No datasets yet. Upload one with POST /v1/datasets (CSV, JSON, IDX or NPY; see docs/api.md).'));
        return;
      }
      append(slot, el('div', { class: 'table-wrap' }, el('table', { id: 'datasets-table' },
        el('thead', null, el('tr', null, el('th', { class: 'num' }, 'ID'), el('th', null, 'Name'),
          el('th', null, 'Format'), el('th', { class: 'num' }, 'Samples'), el('th', null, 'x shape'),
          el('th', null, 'y shape'), el('th', null, 'Classes'), el('th', { class: 'num' }, 'Size'),
          el('th', { class: 'hide-narrow' }, 'Uploaded'))),
        el('tbody', null, list.map(function (d) {
          return el('tr', { 'data-dataset': d.id },
            el('td', { class: 'num' }, String(d.id)), el('td', null, el('strong', null, d.name)),
            el('td', null, d.format), el('td', { class: 'num' }, fmtInt(d.n_samples)),
            el('td', { class: 'mono' }, fmtShape(d.x_shape)), el('td', { class: 'mono' }, fmtShape(d.y_shape)),
            el('td', null, classesList(d)), el('td', { class: 'num' }, fmtBytes(d.bytes)),
            el('td', { class: 'hide-narrow', title: fmtTime(d.created_at) }, fmtAgo(d.created_at)));
        })))));
    }, function (err) {
      clear(slot);
      append(slot, errorBanner(err, 'Cannot list the datasets'));
    });
  }

  /* ---------------------------------------------------------------------
   * #/models */

  function modelsPage(main) {
    document.title = 'Models · traind';
    append(main, el('div', { class: 'page-head' }, el('h1', null, 'Models')));
    var slot = el('div', { class: 'panel' }, el('p', { class: 'muted' }, 'Loading…'));
    append(main, slot);
    var signal = abortable();
    api('/v1/models', { signal: signal }).then(function (b) {
      var list = b && b.models || [];
      clear(slot);
      if (!list.length) {
        append(slot, el('p', { class: 'empty' }, 'No models yet. Define one with POST /v1/models (see docs/model.md).'));
        return;
      }
      append(slot, el('div', { class: 'table-wrap' }, el('table', { id: 'models-table' },
        el('thead', null, el('tr', null, el('th', { class: 'num' }, 'ID'), el('th', null, 'Name'),
          el('th', null, 'Input'), el('th', null, 'Output'), el('th', null, 'Loss'),
          el('th', { class: 'num' }, 'Parameters'), el('th', null, 'Layers'),
          el('th', { class: 'hide-narrow' }, 'Created'))),
        el('tbody', null, list.map(function (m) {
          var s = m.summary || {}, def = m.definition || {};
          var types = (s.layers || []).map(function (l) { return l.type; }).join(' → ');
          return el('tr', { 'data-model': m.id },
            el('td', { class: 'num' }, String(m.id)), el('td', null, el('strong', null, m.name)),
            el('td', { class: 'mono' }, fmtShape(s.input)), el('td', { class: 'mono' }, fmtShape(s.output)),
            el('td', null, def.loss || '–'), el('td', { class: 'num' }, fmtInt(s.total_params)),
            el('td', null, el('details', null, el('summary', null, (s.layers || []).length + ' layers: ' + types),
              layersTable(s, def))),
            el('td', { class: 'hide-narrow', title: fmtTime(m.created_at) }, fmtAgo(m.created_at)));
        })))));
    }, function (err) {
      clear(slot);
      append(slot, errorBanner(err, 'Cannot list the models'));
    });
  }

  /* --------------------------------------------------------------------- */

  function start() {
    setupToken();
    window.addEventListener('hashchange', render);
    if (!location.hash) history.replaceState(null, '', '#/jobs');
    render();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
