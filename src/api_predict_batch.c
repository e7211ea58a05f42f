/*
 * api_predict_batch.c: POST /predict/batch.
 *
 * Up to 256 texts, each under /predict's rules, scored by one model
 * version (routed or pinned once for the request) and recorded as one
 * group (recorder.c): one row per text, all committed in one transaction
 * before the 200, or none.  Every text counts against the client's rate
 * limit, and the request is admitted whole or not at all.  One invalid
 * text rejects the request with a 422 naming its index; nothing is
 * written then.
 */
#include <sys/types.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "json_out.h"

/* Room for one result of the answer, and for the envelope. */
#define BATCH_ITEM_MAX		512
#define BATCH_HEAD_MAX		512

struct batch_state {
	struct api_state	 head;
	struct recorder_group	 group;
	struct recorder_row	 rows[SCHEMA_BATCH_MAX];
	int			 include_metrics;
	const struct model	*shadow;	/* NULL: no shadow */
	struct recorder_row	*shadow_rows;	/* [group.n], its results */
};

static int	batch_start(struct http_request *);
static int	batch_answer(struct http_request *, struct batch_state *);
static void	batch_body(struct http_request *, struct batch_state *);
static void	batch_onfree(struct http_request *);
static void	batch_count(const struct batch_state *);

int
api_predict_batch_post(struct http_request *req)
{
	struct batch_state	*st;

	if (!http_state_exists(req))
		return (batch_start(req));

	st = http_state_get(req);
	if (st->group.state != RECORDER_DONE) {
		http_request_sleep(req);
		return (KORE_RESULT_RETRY);
	}
	return (batch_answer(req, st));
}

/* Validates and scores every text, then hands the group over. */
static int
batch_start(struct http_request *req)
{
	struct schema_predict_batch	*in;
	struct batch_state		*st;
	struct registry_entry		*ver, *shadow;
	struct recorder_row		*row;
	char				 client[INET6_ADDRSTRLEN];
	struct timespec			 t0, t1;
	json_t				*body, *details;
	const char			*field, *why;
	char				 name[32];
	size_t				 i;

	body = NULL;
	details = NULL;
	in = NULL;

	if (!gate_method(req, HTTP_METHOD_POST))
		goto done;
	if (!http_json_read(req, &body))
		goto done;

	/* About 14 KiB: on the heap, not on the worker's stack. */
	in = kore_calloc(1, sizeof(*in));
	details = json_array();
	if (!schema_predict_batch(body, in, details)) {
		http_json_error(req, 422, "validation_failed",
		    in->bad_index >= 0 ? "a text of the batch breaks the "
		    "rules of /predict; nothing was recorded" :
		    "the request body does not match the schema", details);
		details = NULL;
		goto done;
	}
	json_decref(details);
	details = NULL;

	if (app.model == NULL) {
		http_json_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "model_unavailable", "the model is not loaded", NULL);
		goto done;
	}
	ratelimit_client(req, client, sizeof(client));
	if ((ver = routing_pick(in->model, in->model_version,
	    in->routing_key != NULL ? in->routing_key : client, &shadow,
	    &field, &why)) == NULL) {
		http_json_error(req, 422, "validation_failed",
		    "the request names no loaded model version",
		    json_pack("[{s:s,s:s}]", "field", field, "message", why));
		goto done;
	}

	st = http_json_state(req, sizeof(*st), batch_onfree);
	st->include_metrics = in->include_metrics;
	st->group.req = req;
	st->group.model = ver->model;
	st->group.rows = st->rows;
	st->group.n = (int)in->n;
	memcpy(st->group.client, client, sizeof(client));
	if (shadow != NULL) {
		st->shadow = shadow->model;
		st->shadow_rows = kore_calloc(in->n, sizeof(*st->shadow_rows));
	}

	for (i = 0; i < in->n; i++) {
		row = &st->rows[i];
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (!model_predict(ver->model, in->text[i], in->len[i],
		    &row->result)) {
			snprintf(name, sizeof(name), "texts[%zu]", i);
			http_json_error(req, 422, "validation_failed",
			    "a text of the batch cannot be scored; nothing "
			    "was recorded", json_pack("[{s:s,s:s}]", "field",
			    name, "message", "must be valid UTF-8 text"));
			goto done;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* What the client sees is what is stored: round once. */
		row->result.confidence =
		    round(row->result.confidence * 1e6) / 1e6;
		row->inference_ms = round(((double)(t1.tv_sec - t0.tv_sec) *
		    1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) * 1e3) /
		    1e3;
		row->input_length = in->codepoints[i];
		row->model = ver->model;
		uuid_v7_now(row->id);

		/* The shadow scores the same text; its rows go after ours. */
		if (st->shadow == NULL)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (!model_predict(st->shadow, in->text[i], in->len[i],
		    &st->shadow_rows[i].result)) {
			kore_free(st->shadow_rows);
			st->shadow_rows = NULL;
			st->shadow = NULL;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		st->shadow_rows[i].inference_ms = round(((double)(t1.tv_sec -
		    t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) /
		    1e6) * 1e3) / 1e3;
		st->shadow_rows[i].result.confidence =
		    round(st->shadow_rows[i].result.confidence * 1e6) / 1e6;
		st->shadow_rows[i].input_length = row->input_length;
		st->shadow_rows[i].model = st->shadow;
		uuid_v7_now(st->shadow_rows[i].id);
		memcpy(st->shadow_rows[i].shadow_of, row->id, sizeof(row->id));
	}

	json_decref(body);
	body = NULL;
	kore_free(in);
	in = NULL;

	recorder_submit_group(&st->group);
	http_request_sleep(req);
	return (KORE_RESULT_RETRY);

done:
	kore_free(in);
	json_decref(body);
	json_decref(details);
	return (KORE_RESULT_OK);
}

/* The statement holding our group has finished: tell the client. */
static int
batch_answer(struct http_request *req, struct batch_state *st)
{
	struct recorder_group	*g;
	char			 msg[160], retry[16];

	g = &st->group;
	switch (g->status) {
	case HTTP_STATUS_OK:
		break;
	case 429:
		stats_me()->ratelimited[STATS_LIMITED_PREDICT]++;
		if (g->n > g->limit) {
			/* Waiting would never help: say so. */
			snprintf(msg, sizeof(msg), "the batch has %d texts, "
			    "more than the rate limit of %d per minute",
			    g->n, g->limit);
			if (g->reset_s < 1)
				g->reset_s = 1;
			ratelimit_headers(req, g->limit, 0, g->reset_s);
			snprintf(retry, sizeof(retry), "%d", g->reset_s);
			http_response_header(req, "retry-after", retry);
			http_json_error(req, 429, "rate_limited", msg,
			    json_pack("[{s:i,s:i}]", "limit", g->limit,
			    "retry_after_seconds", g->reset_s));
			return (KORE_RESULT_OK);
		}
		ratelimit_reject(req, g->limit, g->reset_s);
		return (KORE_RESULT_OK);
	case HTTP_STATUS_SERVICE_UNAVAILABLE:
		http_response_header(req, "retry-after", "1");
		http_json_error(req, g->status, "database_unavailable",
		    g->unknown ? "the database stopped answering while "
		    "recording the batch; it may or may not have been stored "
		    "(all of it or none)" : "the batch could not be recorded; "
		    "nothing was stored, retry", NULL);
		return (KORE_RESULT_OK);
	default:
		http_json_error(req, g->status, "internal",
		    "internal error while recording the batch", NULL);
		return (KORE_RESULT_OK);
	}

	batch_count(st);
	if (st->shadow != NULL)
		recorder_submit_shadow(st->shadow, g->client, st->shadow_rows,
		    g->n);
	ratelimit_headers(req, g->limit, g->remaining, g->reset_s);
	batch_body(req, st);
	return (KORE_RESULT_OK);
}

/*
 * {"model", "model_version", "timestamp", "count", "predictions": [...]}
 * with one object per text, in input order, shaped as /predict's answer.
 */
static void
batch_body(struct http_request *req, struct batch_state *st)
{
	struct recorder_group	*g;
	struct recorder_row	*row;
	struct json_out		 o;
	struct kore_buf		*buf;
	char			 item[BATCH_ITEM_MAX];
	const char		*text;
	size_t			 len;
	int			 i;

	g = &st->group;
	buf = kore_buf_alloc((size_t)g->n * BATCH_ITEM_MAX + BATCH_HEAD_MAX);
	json_out_init(&o, item, sizeof(item));
	json_out_open(&o, NULL);
	json_out_str(&o, "model", model_name(g->model));
	json_out_str(&o, "model_version", model_version(g->model));
	json_out_str(&o, "timestamp", g->created_at);
	json_out_int(&o, "count", g->n);
	json_out_close(&o);
	text = json_out_done(&o, &len);
	if (text == NULL)
		goto fail;
	/* Reopen the envelope: drop its '}' and add the array. */
	kore_buf_append(buf, text, len - 1);
	kore_buf_appendf(buf, ",\"predictions\":[");

	for (i = 0; i < g->n; i++) {
		row = &g->rows[i];
		json_out_init(&o, item, sizeof(item));
		json_out_open(&o, NULL);
		json_out_int(&o, "index", i);
		json_out_str(&o, "prediction_id", row->id);
		json_out_str(&o, "sentiment", row->result.label);
		json_out_fixed(&o, "confidence", row->result.confidence, 6);
		json_out_fixed(&o, "inference_time_ms", row->inference_ms, 3);
		if (st->include_metrics) {
			json_out_open(&o, "metric");
			json_out_fixed(&o, "compound", row->result.compound, 4);
			json_out_fixed(&o, "pos", row->result.pos, 3);
			json_out_fixed(&o, "neu", row->result.neu, 3);
			json_out_fixed(&o, "neg", row->result.neg, 3);
			json_out_int(&o, "input_length", row->input_length);
			json_out_close(&o);
		}
		json_out_close(&o);
		if ((text = json_out_done(&o, &len)) == NULL)
			goto fail;
		if (i > 0)
			kore_buf_append(buf, ",", 1);
		kore_buf_append(buf, text, len);
	}
	kore_buf_append(buf, "]}", 2);
	http_json_reply_text(req, HTTP_STATUS_OK, (const char *)buf->data,
	    buf->offset);
	kore_buf_free(buf);
	return;

fail:
	kore_buf_free(buf);
	http_json_reply_text(req, HTTP_STATUS_OK, NULL, 0);
}

static void
batch_onfree(struct http_request *req)
{
	struct batch_state	*st;

	if ((st = http_state_get(req)) == NULL)
		return;
	recorder_cancel_group(&st->group);
	kore_free(st->shadow_rows);	/* the recorder took a copy */
	st->shadow_rows = NULL;
}

/* Every text recorded counts as a prediction, by label. */
static void
batch_count(const struct batch_state *st)
{
	struct stats_worker	*sw;
	const char		*label;
	int			 i, k, v;

	sw = stats_me();
	v = registry_index(&app.registry, st->group.model);
	for (i = 0; i < st->group.n; i++) {
		label = st->rows[i].result.label;
		k = label[2] == 's' ? 0 : label[2] == 'g' ? 1 : 2;
		sw->predictions[k]++;
		stats_observe(&sw->inference_ms, STATS_HIST_MS,
		    st->rows[i].inference_ms);
		stats_version(sw, v, k, st->rows[i].inference_ms);
	}
}
