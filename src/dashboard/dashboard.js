/*
 * dashboard.js: GET /dashboard's logic.  Reads this server's JSON
 * endpoints every few seconds and draws them with uPlot:
 *
 *   GET  /health                  database state, the loaded model
 *   GET  /                        the endpoint list (is there a /models?)
 *   GET  /models                  the versions, when the server has it
 *   GET  /metrics/prometheus      429 counters; versions that served
 *   GET  /metrics/count           all-time total
 *   POST /metrics/aggregated      window figures and the status
 *   GET  /metrics/thresholds      WARNING/CRITICAL lines
 *   GET  /metrics/timeseries      one call for the selection, one more
 *                                 per version when several are shown
 *   POST /analyze/performance     on demand (the button)
 *
 * One refresh at a time: each has its AbortController (a new window or
 * model aborts the old one, so a stale answer never lands), the next is
 * scheduled only when the previous finished, and charts are created once
 * and fed with setData (re-created only when their series change).
 * Nothing grows with time but the 429 samples, trimmed to the window.
 * Text goes in with textContent only: nothing from the API becomes HTML.
 *
 * ?refresh_ms=N (100..60000, default 5000) sets the period (the tests
 * speed it up), ?window=5m|1h|24h the first window.  The newest bucket of
 * /metrics/timeseries may be partial (flagged "partial", or ending after
 * the window's end): its rate is over the seconds it covers so far.
 */
(function () {
	"use strict";

	/* Window minutes -> bucket minutes (at most 96 points). */
	var WINDOWS = { 5: 1, 60: 1, 1440: 15 };
	var WINDOW_NAMES = { 5: "5 min", 60: "1 h", 1440: "24 h" };
	/* Okabe-Ito, then a dash pattern per series: never colour alone. */
	var PALETTE = ["#0072B2", "#009E73", "#CC79A7", "#56B4E9",
	    "#000000", "#E69F00"];
	var DASHES = [[], [10, 4], [2, 3], [12, 3, 3, 3], [6, 6], [1, 5]];
	var WARNING = "#E69F00", CRITICAL = "#D55E00";
	var LABELS = [["positive", "#009E73", []],
	    ["negative", "#D55E00", [10, 4]], ["neutral", "#0072B2", [2, 3]]];
	var PANELS = ["rate", "latency", "confidence", "labels"];
	var FETCH_TIMEOUT_MS = 15000;
	/* name{labels} value: the lines of the Prometheus text format. */
	var PROM_429 = "modelserver_ratelimit_rejections_total";
	var PROM_PREDICTIONS = "modelserver_predictions_total";
	var PROM_LINE = /^([a-z_:]+)(\{([^}]*)\})? ([-+0-9.eE]+|NaN)$/;
	var SAMPLES_MAX = 5000;

	var query = new URLSearchParams(location.search);
	var REFRESH_MS = clampInt(query.get("refresh_ms"), 100, 60000, 5000);

	var state = {
		window: { "5m": 5, "1h": 60, "24h": 1440 }[query.get("window")]
		    || 60,
		scope: "",		/* "" all, else JSON [name, version] */
		versions: [],		/* [{name, version}], sorted */
		versionsKey: "",
		hasModels: null,	/* GET / lists /models */
		ctl: null,
		timer: null,
		refreshes: 0,
		lastOk: null,		/* Date of the last full refresh */
		dbUp: null,
		samples: [],		/* [[t, 429/s]] */
		lastProm: null,		/* {t, total} */
		charts: {},
		analyzing: null
	};

	function clampInt(s, lo, hi, dflt) {
		var v = parseInt(s, 10);
		if (!isFinite(v))
			return (dflt);
		return (Math.min(hi, Math.max(lo, v)));
	}

	function $(id) {
		return (document.getElementById(id));
	}

	/* ------------------------------------------------------------ fetch */

	/*
	 * One request; resolves {status, body} with body parsed as JSON
	 * (text when asked), rejects on a network error or an abort.
	 */
	function call(method, path, body, signal, text) {
		var init = { method: method, signal: signal, cache: "no-store",
		    headers: { "Accept": text ? "text/plain" :
		    "application/json" } };
		if (body !== undefined) {
			init.headers["Content-Type"] = "application/json";
			init.body = JSON.stringify(body);
		}
		return (fetch(path, init).then(function (r) {
			return ((text ? r.text() : r.json().catch(function () {
				return (null);
			})).then(function (b) {
				return ({ status: r.status, body: b });
			}));
		}));
	}

	function qs(o) {
		var p = new URLSearchParams();
		Object.keys(o).forEach(function (k) {
			if (o[k] !== null && o[k] !== undefined)
				p.set(k, String(o[k]));
		});
		var s = p.toString();
		return (s ? "?" + s : "");
	}

	/* An ISO 8601 time with microseconds, to epoch seconds. */
	function epoch(iso) {
		return (Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1"))
		    / 1000);
	}

	/* ------------------------------------------------------- the model */

	function scopeFilter() {
		var s = state.scope ? JSON.parse(state.scope) : [null, null];
		return ({ model_name: s[0], model_version: s[1] });
	}

	/* The versions the charts show as separate series. */
	function shownVersions() {
		var f = scopeFilter();
		return (state.versions.filter(function (v) {
			return ((f.model_name === null ||
			    v.name === f.model_name) &&
			    (f.model_version === null ||
			    v.version === f.model_version));
		}));
	}

	/*
	 * Versions from GET /models, whatever its exact shape: a list, or
	 * {models: [...]}, of {name, version} or {name, versions: [...]}
	 * (strings or {version}).
	 */
	function versionsFromModels(doc) {
		var out = [];
		var list = Array.isArray(doc) ? doc : (doc && (doc.models ||
		    doc.items)) || [];
		list.forEach(function (m) {
			if (!m || typeof m.name !== "string")
				return;
			if (typeof m.version === "string")
				out.push({ name: m.name, version: m.version });
			(m.versions || []).forEach(function (v) {
				var s = typeof v === "string" ? v :
				    v && v.version;
				if (typeof s === "string")
					out.push({ name: m.name, version: s });
			});
		});
		return (out);
	}

	/* Series of the Prometheus text: {name, labels, value}. */
	function promParse(text) {
		var out = [];
		String(text).split("\n").forEach(function (line) {
			var m = PROM_LINE.exec(line);
			if (!m)
				return;
			var labels = {};
			(m[3] || "").replace(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g,
			    function (_, k, v) {
				labels[k] = v.replace(/\\(.)/g, "$1");
			});
			out.push({ name: m[1], labels: labels,
			    value: parseFloat(m[4]) });
		});
		return (out);
	}

	function setVersions(list) {
		var seen = {}, uniq = [];
		list.forEach(function (v) {
			var k = v.name + "\u0000" + v.version;
			if (!seen[k]) {
				seen[k] = true;
				uniq.push(v);
			}
		});
		uniq.sort(function (a, b) {
			return (a.name < b.name ? -1 : a.name > b.name ? 1 :
			    a.version.localeCompare(b.version, "en",
			    { numeric: true }));
		});
		var key = JSON.stringify(uniq);
		if (key === state.versionsKey)
			return;
		state.versions = uniq;
		state.versionsKey = key;

		var sel = $("scope"), opts = [], names = {};
		opts.push(new Option("all", ""));
		uniq.forEach(function (v) {
			names[v.name] = (names[v.name] || 0) + 1;
		});
		Object.keys(names).sort().forEach(function (n) {
			if (names[n] > 1 || Object.keys(names).length > 1) {
				opts.push(new Option(n + " (every version)",
				    JSON.stringify([n, null])));
			}
			uniq.forEach(function (v) {
				if (v.name === n) {
					opts.push(new Option(n + " " +
					    v.version, JSON.stringify([n,
					    v.version])));
				}
			});
		});
		var keep = opts.some(function (o) {
			return (o.value === state.scope);
		});
		sel.replaceChildren.apply(sel, opts);
		if (!keep)
			state.scope = "";
		sel.value = state.scope;
	}

	/* ---------------------------------------------------------- refresh */

	function refresh() {
		clearTimeout(state.timer);
		if (state.ctl)
			state.ctl.abort();
		var ctl = state.ctl = new AbortController();
		var timeout = setTimeout(function () {
			ctl.abort();
		}, FETCH_TIMEOUT_MS);

		load(ctl.signal).then(function (view) {
			if (ctl === state.ctl)
				render(view);
		}, function (e) {
			if (ctl !== state.ctl)
				return;		/* superseded */
			renderFailure(e && e.name === "AbortError" ?
			    "the server did not answer within " +
			    FETCH_TIMEOUT_MS / 1000 + " s" :
			    "the server does not answer (" + (e && e.message ||
			    e) + ")");
		}).then(function () {
			clearTimeout(timeout);
			if (ctl !== state.ctl)
				return;
			state.ctl = null;
			state.refreshes++;
			document.body.dataset.refreshes =
			    String(state.refreshes);
			state.timer = setTimeout(refresh, REFRESH_MS);
		});
	}

	/* Everything one refresh needs; resolves the view to render. */
	function load(signal) {
		var view = { window: state.window,
		    bucket: WINDOWS[state.window] };
		var first = state.hasModels === null ?
		    call("GET", "/", undefined, signal).then(function (r) {
			state.hasModels = !!(r.body && (r.body.endpoints ||
			    []).some(function (e) {
				return (e.path === "/models" &&
				    e.method === "GET");
			}));
		}) : Promise.resolve();

		return (first.then(function () {
			return (Promise.all([
			    call("GET", "/health", undefined, signal),
			    call("GET", "/metrics/prometheus", undefined,
				signal, true),
			    state.hasModels ? call("GET", "/models", undefined,
				signal) : Promise.resolve(null)
			]));
		}).then(function (r) {
			var health = r[0].body || {}, prom = r[1];
			var models = r[2];
			var db = health.database || {};
			var versions = [];

			view.health = health;
			view.dbUp = db.status === "up";
			view.dbError = db.error || (r[0].status >= 500 &&
			    !health.database ? "status " + r[0].status : null);
			if (prom.status === 200) {
				var series = promParse(prom.body);
				view.rejected = 0;
				series.forEach(function (s) {
					var l = s.labels;
					if (s.name === PROM_429)
						view.rejected += s.value;
					if (s.name === PROM_PREDICTIONS &&
					    l.model && l.version) {
						versions.push({ name: l.model,
						    version: l.version });
					}
				});
			}
			if (models && models.status === 200)
				versions = versions.concat(versionsFromModels(
				    models.body));
			if (health.model_name && health.model_version) {
				versions.push({ name: health.model_name,
				    version: health.model_version });
			}
			setVersions(versions);
			if (!view.dbUp)
				return (view);
			return (loadMetrics(view, signal));
		}));
	}

	function loadMetrics(view, signal) {
		var f = scopeFilter(), shown = shownVersions();
		var w = view.window, b = view.bucket;
		var calls = [
		    call("GET", "/metrics/count" + qs(f), undefined, signal),
		    call("POST", "/metrics/aggregated", {
			time_window_minutes: w, model_name: f.model_name,
			model_version: f.model_version }, signal),
		    call("GET", "/metrics/thresholds" + qs({
			model_name: f.model_name }), undefined, signal),
		    call("GET", "/metrics/timeseries" + qs({
			window_minutes: w, bucket_minutes: b,
			model_name: f.model_name,
			model_version: f.model_version }), undefined, signal)
		];
		view.series = shown.length > 1 ? shown : [];
		view.series.forEach(function (v) {
			calls.push(call("GET", "/metrics/timeseries" + qs({
			    window_minutes: w, bucket_minutes: b,
			    model_name: v.name, model_version: v.version }),
			    undefined, signal));
		});
		view.single = shown.length === 1 ? shown[0] : null;

		return (Promise.all(calls).then(function (r) {
			var bad = r.filter(function (x) {
				return (x.status !== 200);
			});
			if (bad.length) {
				var e = bad[0].body && bad[0].body.error || {};
				view.dbUp = bad[0].status !== 503;
				view.dbError = e.message ||
				    "status " + bad[0].status;
				view.apiError = view.dbUp ? view.dbError : null;
				return (view);
			}
			view.count = r[0].body;
			view.agg = r[1].body;
			view.thresholds = r[2].body;
			view.scopeSeries = r[3].body;
			view.versionSeries = r.slice(4).map(function (x) {
				return (x.body);
			});
			view.ok = true;
			return (view);
		}));
	}

	/* ----------------------------------------------------------- render */

	function fmt(v, digits) {
		if (v === null || v === undefined || !isFinite(v))
			return ("–");
		if (Math.abs(v) >= 1000)
			return (Math.round(v).toLocaleString("en-US"));
		return (Number(v.toPrecision(digits || 3)).toString());
	}

	function setStat(id, value, text) {
		var el = $(id);
		el.textContent = text !== undefined ? text : fmt(value);
		el.dataset.value = value === null || value === undefined ? "" :
		    String(value);
	}

	/*
	 * The buckets of a /metrics/timeseries answer, with the seconds each
	 * covers of the window: the newest may be partial (a flag, or an end
	 * past the window's end), the oldest may start before the window, and
	 * a rate divides by what the bucket covers.
	 */
	function buckets(doc) {
		var end = epoch(doc.time_window_end);
		var begin = epoch(doc.time_window_start);
		return ((doc.buckets || []).map(function (b) {
			var s = epoch(b.bucket_start), e = epoch(b.bucket_end);
			var ld = b.label_distribution || {};
			return ({
				start: s,
				/* An aligned bucket may start earlier. */
				covered: Math.max(1, Math.min(e, end) -
				    (isFinite(begin) ? Math.max(s, begin) : s)),
				partial: b.partial === true ||
				    b.is_partial === true ||
				    b.complete === false || e > end + 0.001,
				n: b.total_predictions || 0,
				conf: b.average_confidence,
				p95: b.p95_inference_time_ms,
				avg: b.average_inference_time_ms,
				labels: [ld.positive || 0, ld.negative || 0,
				    ld.neutral || 0]
			});
		}));
	}

	/*
	 * Values of bs placed on the x of the selection: at the nearest
	 * bucket start, within half a bucket (aligned buckets share their
	 * starts; only the oldest, cut at each answer's window start, and
	 * unaligned ones differ a little between two answers).
	 */
	function align(xs, width, bs, pick) {
		var out = xs.map(function () {
			return (null);
		});
		bs.forEach(function (b) {
			var best = -1, i;
			for (i = 0; i < xs.length; i++) {
				if (best < 0 || Math.abs(xs[i] - b.start) <
				    Math.abs(xs[best] - b.start))
					best = i;
			}
			if (best >= 0 && Math.abs(xs[best] - b.start) < width / 2)
				out[best] = pick(b);
		});
		return (out);
	}

	function versionName(v) {
		return (v ? v.name + " " + v.version : "all");
	}

	function render(view) {
		state.dbUp = view.dbUp;
		var notice = $("notice");
		if (!view.dbUp || view.apiError) {
			notice.hidden = false;
			notice.textContent = (view.apiError ?
			    "The metrics endpoints fail: " + view.apiError :
			    "Database down" + (view.dbError ? " (" +
			    view.dbError + ")" : "") +
			    ": the figures below are not updating") +
			    (state.lastOk ? "; last data " +
			    state.lastOk.toLocaleTimeString() : "") +
			    ". Retrying every " + REFRESH_MS / 1000 + " s.";
		} else {
			notice.hidden = true;
			notice.textContent = "";
		}
		var db = $("stat-db");
		db.dataset.state = view.dbUp ? "up" : "down";
		db.textContent = view.dbUp ? "up, " +
		    (view.health.database.latency_ms || 0) + " ms" : "down";
		if (view.rejected !== undefined) {
			setStat("stat-429", view.rejected);
			sample429(view.rejected);
		}
		draw429();
		if (!view.ok) {
			markStale(true, view);
			return;
		}
		state.lastOk = new Date();
		$("updated").textContent = state.lastOk.toLocaleTimeString();
		$("updated").dateTime = state.lastOk.toISOString();
		markStale(false, view);
		renderStatus(view.agg);
		setStat("stat-count", view.count.total_predictions);
		setStat("stat-window-total", view.agg.total_predictions);
		setStat("stat-confidence", view.agg.average_confidence);
		setStat("stat-avg-ms", view.agg.average_inference_time_ms,
		    fmt(view.agg.average_inference_time_ms) + " ms");
		setStat("stat-p95-ms", view.agg.p95_inference_time_ms,
		    fmt(view.agg.p95_inference_time_ms) + " ms");
		drawCharts(view);
	}

	function renderFailure(why) {
		var notice = $("notice");
		notice.hidden = false;
		notice.textContent = "No answer: " + why + (state.lastOk ?
		    "; last data " + state.lastOk.toLocaleTimeString() : "") +
		    ". Retrying every " + REFRESH_MS / 1000 + " s.";
		markStale(true, { dbUp: false, dbError: why });
	}

	function markStale(stale, view) {
		var msg = stale ? (view.dbUp ? "The metrics could not be read"
		    : "Database unreachable") + (state.lastOk ?
		    ": showing data from " + state.lastOk.toLocaleTimeString() :
		    ": no data yet") : null;
		document.querySelector(".stats").classList.toggle("stale",
		    stale);
		if (stale) {
			$("status").dataset.status = "unknown";
			$("status-text").textContent = "unknown";
			$("status-reason").textContent = msg;
		}
		PANELS.forEach(function (k) {
			var p = $("panel-" + k), e = p.querySelector(".empty");
			p.classList.toggle("stale", stale);
			if (stale) {
				e.hidden = false;
				e.textContent = msg;
			}
		});
	}

	/* The badge, and the reason: the rule of app.metrics_classify. */
	function renderStatus(agg) {
		var t = agg.thresholds || {}, c = agg.average_confidence;
		var p = agg.p95_inference_time_ms, status = agg.status;
		var why = [];
		var badge = $("status");
		badge.dataset.status = status;
		$("status-text").textContent = status === "normal" ? "normal" :
		    status.toUpperCase();
		if (!agg.total_predictions) {
			why.push("no predictions in the last " +
			    WINDOW_NAMES[state.window] + ", nothing to judge");
		} else {
			var lvl = status === "critical" ? "critical" :
			    "warning";
			var cl = t["min_confidence_" + lvl];
			var pl = t["max_inference_time_" + lvl + "_ms"];
			if (status === "normal") {
				why.push("average confidence " + fmt(c) +
				    " > " + fmt(t.min_confidence_warning) +
				    " and P95 " + fmt(p) + " ms < " +
				    fmt(t.max_inference_time_warning_ms) +
				    " ms");
			} else {
				if (c !== null && c <= cl)
					why.push("average confidence " +
					    fmt(c) + " ≤ " + lvl + " " +
					    fmt(cl));
				if (p !== null && p >= pl)
					why.push("P95 inference " + fmt(p) +
					    " ms ≥ " + lvl + " " + fmt(pl) +
					    " ms");
			}
		}
		$("status-reason").textContent = why.join("; ") + " (" +
		    WINDOW_NAMES[state.window] + ", thresholds of " +
		    (t.model_name || "default") + ")";
	}

	/* ----------------------------------------------------------- charts */

	function chartSize(el) {
		return ({ width: Math.max(200, el.clientWidth),
		    height: window.innerWidth < 480 ? 180 : 220 });
	}

	/* A series; points too, or a bucket between two empty ones is lost. */
	function lineSeries(label, stroke, dash, fmtv, nopoints) {
		return ({ label: label, stroke: stroke, dash: dash, width: 2,
		    points: { show: !nopoints, size: 6, stroke: stroke,
			fill: stroke },
		    spanGaps: false,
		    value: function (u, v) {
			return (fmtv ? fmtv(v) : fmt(v));
		    } });
	}

	function thresholdSeries(label, stroke, dash) {
		return ({ label: label, stroke: stroke, dash: dash, width: 1.5,
		    points: { show: false }, value: function (u, v) {
			return (fmt(v));
		    } });
	}

	/*
	 * The chart of key, fed with data; created (or re-created, when its
	 * series changed) from spec, else only setData.
	 */
	function chart(key, spec, data) {
		var c = state.charts[key], el = $("chart-" + key);
		var sig = JSON.stringify(spec.series.map(function (s) {
			return ([s.label, s.stroke, s.dash]);
		})) + spec.sig;
		describe(el, spec, data);
		if (c && c.sig === sig) {
			c.u.setData(data);
			return;
		}
		if (c)
			c.u.destroy();
		var size = chartSize(el);
		var opts = {
			width: size.width,
			height: size.height,
			scales: Object.assign({ x: { time: true } },
			    spec.scales),
			series: [{ label: "time", value: function (u, v) {
				return (v === null ? "–" : new Date(v * 1000)
				    .toLocaleTimeString());
			} }].concat(spec.series),
			axes: [{ space: 70 }, Object.assign({
			    label: spec.yLabel, size: 56 }, spec.yAxis)],
			legend: { live: true },
			hooks: { draw: [latest] },
			cursor: { focus: { prox: 16 } }
		};
		state.charts[key] = { sig: sig, u: new uPlot(opts, data, el) };
	}

	/*
	 * After each draw, the legend shows the newest bucket while the
	 * pointer is elsewhere (uPlot's own shows nothing then).
	 */
	function latest(u) {
		if (u.cursor.left >= 0 || !u.data[0].length)
			return;
		u.setLegend({ idx: u.data[0].length - 1 }, false);
	}

	/* The chart in words, for screen readers: each series' latest value. */
	function describe(el, spec, data) {
		var parts = spec.series.map(function (sr, i) {
			var ys = data[i + 1], j = ys.length - 1;
			while (j >= 0 && (ys[j] === null ||
			    ys[j] === undefined))
				j--;
			return (sr.label + " " + (j >= 0 ?
			    sr.value(null, ys[j]) : "no data"));
		});
		el.setAttribute("aria-label", "latest: " + parts.join(", "));
	}

	function drawCharts(view) {
		var scope = buckets(view.scopeSeries);
		var width = view.bucket * 60;
		var xs = scope.map(function (b) {
			return (b.start);
		});
		var empty = !view.agg.total_predictions;
		var th = view.thresholds;
		var lines = [], names = [];

		if (view.series.length) {
			lines = view.versionSeries.map(buckets);
			names = view.series.map(versionName);
		} else {
			lines = [scope];
			names = [versionName(view.single)];
		}
		var partial = scope.length && scope[scope.length - 1].partial;
		var newest = scope[scope.length - 1];
		var caption = view.bucket + "-min buckets over the last " +
		    WINDOW_NAMES[view.window] + (partial ? "; the newest " +
		    "bucket is partial (" + Math.round(newest.covered) +
		    " s so far), its rate is over that time" : "") + ".";

		function per(pick, fmtv) {
			return ({
				series: names.map(function (n, i) {
					return (lineSeries(n,
					    PALETTE[i % PALETTE.length],
					    DASHES[i % DASHES.length], fmtv));
				}),
				data: lines.map(function (bs) {
					return (align(xs, width, bs, pick));
				})
			});
		}
		function constant(v) {
			return (xs.map(function () {
				return (v === undefined ? null : v);
			}));
		}

		/* Predictions per second. */
		var rate = per(function (b) {
			return (b.n / b.covered);
		}, function (v) {
			return (fmt(v, 3));
		});
		chart("rate", { series: rate.series, yLabel: "per second",
		    scales: { y: { range: function (u, lo, hi) {
			return ([0, Math.max(hi, 0.01) * 1.1]);
		    } } }, sig: "" }, [xs].concat(rate.data));

		/* P95 (and average) inference time, log scale, thresholds. */
		var pos = function (v) {
			return (v === null || v === undefined || v <= 0 ?
			    null : v);
		};
		var lat = per(function (b) {
			return (pos(b.p95));
		});
		lat.series.forEach(function (s) {
			s.label = "P95 " + s.label;
		});
		var hasAvg = lines.some(function (bs) {
			return (bs.some(function (b) {
				return (b.avg !== undefined);
			}));
		});
		if (hasAvg) {
			lines.forEach(function (bs, i) {
				lat.series.push(lineSeries("average " +
				    names[i], PALETTE[i % PALETTE.length],
				    [1, 3]));
				lat.data.push(align(xs, width, bs,
				    function (b) {
					return (pos(b.avg));
				}));
			});
		} else {
			lat.series.push(thresholdSeries("average (window)",
			    "#555555", [1, 3]));
			lat.data.push(constant(pos(
			    view.agg.average_inference_time_ms)));
		}
		lat.series.push(thresholdSeries("WARNING", WARNING, [8, 4]));
		lat.data.push(constant(th.max_inference_time_warning_ms));
		lat.series.push(thresholdSeries("CRITICAL", CRITICAL, [3, 3]));
		lat.data.push(constant(th.max_inference_time_critical_ms));
		chart("latency", { series: lat.series, yLabel: "ms (log)",
		    scales: { y: { distr: 3, log: 10 } }, sig: "log",
		    yAxis: { splits: decades } },
		    [xs].concat(lat.data));

		/* Average confidence, thresholds. */
		var conf = per(function (b) {
			return (b.conf === undefined ? null : b.conf);
		});
		conf.series.push(thresholdSeries("WARNING", WARNING, [8, 4]));
		conf.data.push(constant(th.min_confidence_warning));
		conf.series.push(thresholdSeries("CRITICAL", CRITICAL, [3, 3]));
		conf.data.push(constant(th.min_confidence_critical));
		chart("confidence", { series: conf.series, yLabel: "0..1",
		    scales: { y: { range: [0, 1] } }, sig: "" },
		    [xs].concat(conf.data));

		/* Label mix of the selection, in % of each bucket. */
		chart("labels", { series: LABELS.map(function (l) {
			return (lineSeries(l[0], l[1], l[2], function (v) {
				return (v === null ? "–" : fmt(v, 3) + " %");
			}));
		}), yLabel: "%", scales: { y: { range: [0, 100] } }, sig: "" },
		    [xs].concat(LABELS.map(function (l, i) {
			return (scope.map(function (b) {
				return (b.n ? 100 * b.labels[i] / b.n : null);
			}));
		    })));

		PANELS.forEach(function (k) {
			var p = $("panel-" + k), e = p.querySelector(".empty");
			e.hidden = !empty;
			e.textContent = empty ? "No predictions in the last " +
			    WINDOW_NAMES[view.window] + " for " +
			    (state.scope ? versionName({
				name: scopeFilter().model_name,
				version: scopeFilter().model_version ||
				    "(every version)" }) : "any model") + "." :
			    "";
			p.querySelector(".caption").textContent = caption +
			    (k === "latency" ? " Log scale." : "");
		});
	}

	/* Grid lines of a log axis: the powers of ten only. */
	function decades(u, axis, lo, hi) {
		var out = [], e = Math.floor(Math.log10(lo));
		for (; e <= Math.ceil(Math.log10(hi)) && out.length < 12; e++) {
			var v = Math.pow(10, e);
			if (v >= lo * 0.999 && v <= hi * 1.001)
				out.push(v);
		}
		return (out);
	}

	/* A 429 rate from two successive counter readings. */
	function sample429(total) {
		var t = Date.now() / 1000, last = state.lastProm;
		state.lastProm = { t: t, total: total };
		if (!last || t <= last.t)
			return;
		state.samples.push([t, total >= last.total ?
		    (total - last.total) / (t - last.t) : null]);
		var from = t - state.window * 60;
		while (state.samples.length && (state.samples[0][0] < from ||
		    state.samples.length > SAMPLES_MAX))
			state.samples.shift();
	}

	function draw429() {
		var s = state.samples;
		chart("429", { series: [lineSeries("429/s", "#D55E00", [],
		    function (v) {
			return (fmt(v, 3));
		    }, true)], yLabel: "per second",
		    scales: { y: { range: function (u, lo, hi) {
			return ([0, Math.max(hi, 0.1) * 1.1]);
		    } } }, sig: "" },
		    [s.map(function (x) {
			return (x[0]);
		    }), s.map(function (x) {
			return (x[1]);
		    })]);
		var e = $("panel-429").querySelector(".empty");
		e.hidden = s.length > 0;
		e.textContent = s.length ? "" : "Waiting for a second " +
		    "reading of the counters.";
	}

	/* --------------------------------------------------------- analyzer */

	function analyze() {
		var btn = $("analyze"), out = $("analysis"), f = scopeFilter();
		var body = { time_window_minutes: state.window };
		if (f.model_name)
			body.model_name = f.model_name;
		if (state.analyzing)
			state.analyzing.abort();
		var ctl = state.analyzing = new AbortController();
		btn.disabled = true;
		out.setAttribute("aria-busy", "true");
		out.replaceChildren(text("p", "Analyzing the last " +
		    WINDOW_NAMES[state.window] + "…"));
		call("POST", "/analyze/performance", body, ctl.signal).then(
		    function (r) {
			var a = r.body || {};
			if (r.status !== 200) {
				out.replaceChildren(text("p", "The analyzer " +
				    "answered " + r.status + ": " + (a.error &&
				    a.error.message || "no details")));
				return;
			}
			var src = text("span", a.source === "gemini" ?
			    "Gemini" : "rule-based");
			src.className = "source";
			src.dataset.source = a.source;
			var head = document.createElement("p");
			var when = new Date(epoch(a.generated_at) * 1000);
			head.append(src, (a.cached ? "cached, " : "") +
			    "generated " + when.toLocaleTimeString() +
			    ", status " + a.status + (a.fallback_detail ?
			    " — " + a.fallback_detail : ""));
			var nodes = [head, text("p", a.summary)];
			if ((a.identified_issues || []).length) {
				nodes.push(text("h3", "Issues"),
				    list(a.identified_issues));
			}
			if ((a.recommendations || []).length) {
				nodes.push(text("h3", "Recommendations"),
				    list(a.recommendations));
			}
			if (a.root_cause_hypothesis)
				nodes.push(text("p", "Likely cause: " +
				    a.root_cause_hypothesis));
			out.replaceChildren.apply(out, nodes);
		}, function (e) {
			if (ctl === state.analyzing)
				out.replaceChildren(text("p", "No answer " +
				    "from the analyzer (" + (e && e.message ||
				    e) + ")."));
		}).then(function () {
			if (ctl !== state.analyzing)
				return;
			state.analyzing = null;
			btn.disabled = false;
			out.removeAttribute("aria-busy");
		});
	}

	function text(tag, s) {
		var el = document.createElement(tag);
		el.textContent = s === undefined || s === null ? "" : String(s);
		return (el);
	}

	function list(items) {
		var ul = document.createElement("ul");
		items.forEach(function (i) {
			ul.append(text("li", typeof i === "string" ? i :
			    JSON.stringify(i)));
		});
		return (ul);
	}

	/* ------------------------------------------------------------ setup */

	function resize() {
		Object.keys(state.charts).forEach(function (k) {
			var c = state.charts[k];
			c.u.setSize(chartSize($("chart-" + k)));
		});
	}

	function start() {
		var form = $("controls"), pending = 0;
		var radios = form.elements.window;
		Array.prototype.forEach.call(radios, function (r) {
			r.checked = Number(r.value) === state.window;
		});
		form.addEventListener("submit", function (e) {
			e.preventDefault();
		});
		form.addEventListener("change", function (e) {
			if (e.target.name === "window")
				state.window = Number(e.target.value);
			else if (e.target.name === "scope")
				state.scope = e.target.value;
			else
				return;
			state.samples = state.samples.filter(function (x) {
				return (x[0] >= Date.now() / 1000 -
				    state.window * 60);
			});
			refresh();
		});
		$("analyze").addEventListener("click", analyze);
		$("refresh-note").textContent = "(every " +
		    (REFRESH_MS >= 1000 ? REFRESH_MS / 1000 + " s" :
		    REFRESH_MS + " ms") + ")";
		new ResizeObserver(function () {
			if (pending)
				return;
			pending = requestAnimationFrame(function () {
				pending = 0;
				resize();
			});
		}).observe($("charts"));
		refresh();
	}

	/* Read-only, for the console and the browser test: a chart's data. */
	window.modelserverDashboard = Object.freeze({
		data: function (key) {
			var c = state.charts[key];
			return (c ? c.u.data : null);
		}
	});

	if (document.readyState === "loading")
		document.addEventListener("DOMContentLoaded", start);
	else
		start();
})();
