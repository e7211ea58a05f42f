/*
 * api_prometheus.c: GET /metrics/prometheus, the counters of every worker
 * (stats.c) summed, in Prometheus' text exposition format 0.0.4.
 *
 * Durations are exported in seconds, as Prometheus names them; the
 * histograms' buckets are cumulative ("le") as the format requires.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "app.h"

static void	prom_sum(struct stats_worker *);
static void	prom_hist(struct kore_buf *, const char *, const char *,
		    const struct stats_hist *, enum stats_hist_kind);
static void	prom_head(struct kore_buf *, const char *, const char *,
		    const char *);
static const char *prom_escape(const char *, char *, size_t);

int
api_prometheus_get(struct http_request *req)
{
	struct stats_worker	 t;
	struct kore_buf		*b;
	const struct stats	*all;
	const char		*mname, *mversion;
	char			 lbl[320], ename[140], eversion[140];
	u_int64_t		 n, now;
	u_int32_t		 conns;
	int			 r, s, i, v;

	if (!gate_method(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);

	/* Count this scrape first, so it sees itself like any request. */
	http_json_count(req, HTTP_STATUS_OK);
	prom_sum(&t);
	all = stats_all();
	mname = prom_escape(app.model != NULL ? model_name(app.model) : "none",
	    ename, sizeof(ename));
	mversion = prom_escape(app.model != NULL ? model_version(app.model) :
	    "none", eversion, sizeof(eversion));
	b = kore_buf_alloc(16384);

	prom_head(b, "modelserver_info", "gauge",
	    "Build and model of this server (always 1).");
	kore_buf_appendf(b, "modelserver_info{version=\"%s\",model=\"%s\","
	    "model_version=\"%s\"} 1\n", APP_VERSION, mname, mversion);
	prom_head(b, "modelserver_start_time_seconds", "gauge",
	    "When the server started, Unix seconds.");
	kore_buf_appendf(b, "modelserver_start_time_seconds %llu\n",
	    (unsigned long long)(all != NULL ? all->started : 0));

	prom_head(b, "modelserver_http_requests_total", "counter",
	    "Responses sent, by route and status.");
	for (r = 0; r < STATS_NROUTES; r++) {
		for (s = 0; s < STATS_NSTATUS; s++) {
			if ((n = t.requests[r][s]) == 0)
				continue;
			if (stats_status_codes[s] != 0) {
				kore_buf_appendf(b, "modelserver_http_requests_"
				    "total{route=\"%s\",status=\"%d\"} %llu\n",
				    stats_route_names[r], stats_status_codes[s],
				    (unsigned long long)n);
			} else {
				kore_buf_appendf(b, "modelserver_http_requests_"
				    "total{route=\"%s\",status=\"other\"} "
				    "%llu\n", stats_route_names[r],
				    (unsigned long long)n);
			}
		}
	}

	prom_head(b, "modelserver_http_request_duration_seconds", "histogram",
	    "Time from the handler's first run to the response.");
	for (r = 0; r < STATS_NROUTES; r++) {
		if (t.request_ms[r].count == 0)
			continue;
		snprintf(lbl, sizeof(lbl), "route=\"%s\"", stats_route_names[r]);
		prom_hist(b, "modelserver_http_request_duration_seconds", lbl,
		    &t.request_ms[r], STATS_HIST_MS);
	}

	/* Every loaded version, served or not yet (shadows not counted). */
	prom_head(b, "modelserver_predictions_total", "counter",
	    "Predictions recorded (answered 200), by model version and "
	    "label.");
	for (v = 0; v < (int)app.registry.n && v < STATS_VERSIONS_MAX; v++) {
		if (app.registry.v[v].model == NULL)
			continue;
		prom_escape(app.registry.v[v].name, ename, sizeof(ename));
		prom_escape(app.registry.v[v].version, eversion,
		    sizeof(eversion));
		for (i = 0; i < STATS_NLABELS; i++) {
			kore_buf_appendf(b, "modelserver_predictions_total{"
			    "model=\"%s\",version=\"%s\",label=\"%s\"} "
			    "%llu\n", ename, eversion, stats_label_names[i],
			    (unsigned long long)t.version_predictions[v][i]);
		}
	}

	prom_head(b, "modelserver_inference_duration_seconds", "histogram",
	    "Time of the model call alone, by model version.");
	for (v = 0; v < (int)app.registry.n && v < STATS_VERSIONS_MAX; v++) {
		if (app.registry.v[v].model == NULL)
			continue;
		prom_escape(app.registry.v[v].name, ename, sizeof(ename));
		prom_escape(app.registry.v[v].version, eversion,
		    sizeof(eversion));
		snprintf(lbl, sizeof(lbl), "model=\"%s\",version=\"%s\"",
		    ename, eversion);
		prom_hist(b, "modelserver_inference_duration_seconds", lbl,
		    &t.version_inference_ms[v], STATS_HIST_MS);
	}

	prom_head(b, "modelserver_db_write_duration_seconds", "histogram",
	    "Time to commit one batch of prediction rows.");
	prom_hist(b, "modelserver_db_write_duration_seconds", NULL,
	    &t.db_write_ms, STATS_HIST_MS);
	prom_head(b, "modelserver_batch_rows", "histogram",
	    "Rows per group commit.");
	prom_hist(b, "modelserver_batch_rows", NULL, &t.batch_rows,
	    STATS_HIST_ROWS);
	prom_head(b, "modelserver_batches_failed_total", "counter",
	    "Group commits that failed (each of their requests got a 503).");
	kore_buf_appendf(b, "modelserver_batches_failed_total %llu\n",
	    (unsigned long long)t.batches_failed);

	prom_head(b, "modelserver_ratelimit_rejections_total", "counter",
	    "Requests refused with 429, by route.");
	kore_buf_appendf(b, "modelserver_ratelimit_rejections_total"
	    "{route=\"/predict\"} %llu\n",
	    (unsigned long long)t.ratelimited[STATS_LIMITED_PREDICT]);
	kore_buf_appendf(b, "modelserver_ratelimit_rejections_total"
	    "{route=\"/analyze/performance\"} %llu\n",
	    (unsigned long long)t.ratelimited[STATS_LIMITED_ANALYZE]);
	prom_head(b, "modelserver_ratelimit_lease_admits_total", "counter",
	    "/predict requests admitted from a worker's lease (no database "
	    "decision of their own).");
	kore_buf_appendf(b, "modelserver_ratelimit_lease_admits_total %llu\n",
	    (unsigned long long)t.lease_admits);
	prom_head(b, "modelserver_ratelimit_lease_grants_total", "counter",
	    "Leases (one or more tokens) the database granted to the workers.");
	kore_buf_appendf(b, "modelserver_ratelimit_lease_grants_total %llu\n",
	    (unsigned long long)t.lease_grants);

	prom_head(b, "modelserver_gemini_calls_total", "counter",
	    "Upstream Gemini attempts, by outcome.");
	for (i = 0; i < STATS_NGEMINI; i++) {
		kore_buf_appendf(b, "modelserver_gemini_calls_total"
		    "{outcome=\"%s\"} %llu\n", stats_gemini_names[i],
		    (unsigned long long)t.gemini[i]);
	}
	prom_head(b, "modelserver_gemini_cache_requests_total", "counter",
	    "Analysis cache lookups, by result.");
	kore_buf_appendf(b, "modelserver_gemini_cache_requests_total"
	    "{result=\"hit\"} %llu\n", (unsigned long long)t.cache_hits);
	kore_buf_appendf(b, "modelserver_gemini_cache_requests_total"
	    "{result=\"miss\"} %llu\n", (unsigned long long)t.cache_misses);

	prom_head(b, "modelserver_worker_requests_total", "counter",
	    "Responses sent by each worker process (load spread).");
	for (i = 1; all != NULL && i <= all->nworkers &&
	    i <= STATS_WORKERS_MAX; i++) {
		n = 0;
		for (r = 0; r < STATS_NROUTES; r++) {
			for (s = 0; s < STATS_NSTATUS; s++)
				n += all->w[i].requests[r][s];
		}
		kore_buf_appendf(b, "modelserver_worker_requests_total"
		    "{worker=\"%d\"} %llu\n", i, (unsigned long long)n);
	}

	prom_head(b, "modelserver_worker_connections", "gauge",
	    "Open client connections of each worker, as it last published "
	    "them (up to 10 ms old).");
	now = kore_time_ms();
	for (i = 1; all != NULL && i <= all->nworkers; i++) {
		if (balance_read((unsigned int)i, now, &conns)) {
			kore_buf_appendf(b, "modelserver_worker_connections"
			    "{worker=\"%d\"} %u\n", i, conns);
		}
	}

	prom_head(b, "modelserver_routing_generation", "gauge",
	    "The app.routing_state generation each worker applies (routing.c; "
	    "0 before its first load).");
	for (i = 1; all != NULL && i <= all->nworkers &&
	    i <= STATS_WORKERS_MAX; i++) {
		kore_buf_appendf(b, "modelserver_routing_generation"
		    "{worker=\"%d\"} %lld\n", i,
		    (long long)all->w[i].routing_generation);
	}

	http_response_header(req, "content-type",
	    "text/plain; version=0.0.4; charset=utf-8");
	http_response_header(req, "cache-control", "no-store");
	http_response(req, HTTP_STATUS_OK, b->data, b->offset);
	kore_buf_free(b);
	return (KORE_RESULT_OK);
}

/* Adds every worker's slot into t. */
static void
prom_sum(struct stats_worker *t)
{
	const struct stats		*all;
	const struct stats_worker	*w;
	struct stats_hist		*h;
	const struct stats_hist		*src;
	int				 i, r, s, k;

	memset(t, 0, sizeof(*t));
	if ((all = stats_all()) == NULL)
		return;

	for (i = 0; i <= STATS_WORKERS_MAX; i++) {
		w = &all->w[i];
		for (r = 0; r < STATS_NROUTES; r++) {
			for (s = 0; s < STATS_NSTATUS; s++)
				t->requests[r][s] += w->requests[r][s];
		}
		for (k = 0; k < STATS_NROUTES + 3; k++) {
			if (k < STATS_NROUTES) {
				h = &t->request_ms[k];
				src = &w->request_ms[k];
			} else if (k == STATS_NROUTES) {
				h = &t->inference_ms;
				src = &w->inference_ms;
			} else if (k == STATS_NROUTES + 1) {
				h = &t->db_write_ms;
				src = &w->db_write_ms;
			} else {
				h = &t->batch_rows;
				src = &w->batch_rows;
			}
			for (s = 0; s < STATS_NBUCKETS; s++)
				h->buckets[s] += src->buckets[s];
			h->count += src->count;
			h->sum += src->sum;
		}
		for (s = 0; s < STATS_NLABELS; s++)
			t->predictions[s] += w->predictions[s];
		for (k = 0; k < STATS_VERSIONS_MAX; k++) {
			for (s = 0; s < STATS_NLABELS; s++)
				t->version_predictions[k][s] +=
				    w->version_predictions[k][s];
			h = &t->version_inference_ms[k];
			src = &w->version_inference_ms[k];
			for (s = 0; s < STATS_NBUCKETS; s++)
				h->buckets[s] += src->buckets[s];
			h->count += src->count;
			h->sum += src->sum;
		}
		for (s = 0; s < STATS_NLIMITED; s++)
			t->ratelimited[s] += w->ratelimited[s];
		for (s = 0; s < STATS_NGEMINI; s++)
			t->gemini[s] += w->gemini[s];
		t->batches_failed += w->batches_failed;
		t->lease_admits += w->lease_admits;
		t->lease_grants += w->lease_grants;
		t->cache_hits += w->cache_hits;
		t->cache_misses += w->cache_misses;
	}
}

/* One histogram: cumulative buckets, +Inf, sum and count. */
static void
prom_hist(struct kore_buf *b, const char *name, const char *labels,
    const struct stats_hist *h, enum stats_hist_kind kind)
{
	const double	*bounds;
	u_int64_t	 cum;
	double		 scale;
	int		 i;
	const char	*sep;

	bounds = kind == STATS_HIST_ROWS ? stats_bounds_rows : stats_bounds_ms;
	scale = kind == STATS_HIST_ROWS ? 1.0 : 1000.0;
	sep = labels != NULL ? "," : "";
	if (labels == NULL)
		labels = "";

	cum = 0;
	for (i = 0; i < STATS_NBUCKETS; i++) {
		cum += h->buckets[i];
		if (bounds[i] < 0)
			break;
		kore_buf_appendf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name,
		    labels, sep, bounds[i] / scale, (unsigned long long)cum);
	}
	for (i++; i < STATS_NBUCKETS; i++)
		cum += h->buckets[i];
	kore_buf_appendf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
	    sep, (unsigned long long)cum);
	kore_buf_appendf(b, "%s_sum%s%s%s %.9g\n", name, *labels ? "{" : "",
	    labels, *labels ? "}" : "", h->sum / scale);
	kore_buf_appendf(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "",
	    labels, *labels ? "}" : "", (unsigned long long)h->count);
}

static void
prom_head(struct kore_buf *b, const char *name, const char *type,
    const char *help)
{
	kore_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/*
 * A label value as the exposition format wants it: backslash, double
 * quote and newline escaped.  The model's name and version come from its
 * MANIFEST, not from us.  Too long a value is cut, never overrun.
 */
static const char *
prom_escape(const char *in, char *out, size_t len)
{
	size_t	o;

	for (o = 0; *in != '\0' && o + 3 < len; in++) {
		if (*in == '\\' || *in == '"') {
			out[o++] = '\\';
			out[o++] = *in;
		} else if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
	return (out);
}
