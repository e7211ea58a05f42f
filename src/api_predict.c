/*
 * api_predict.c: POST /predict.
 *
 * validate -> model -> record (group commit, rate limit) -> answer.
 * The request sleeps from the moment its row is queued until the batch
 * holding it has committed (or failed); only then does it answer.
 */
#include <sys/types.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "json_out.h"

struct predict_state {
	struct api_state	 head;
	struct recorder_row	 row;
	int			 include_metrics;
	const struct model	*shadow;	/* NULL: no shadow */
	struct recorder_row	 shadow_row;	/* its result, unsent */
};

static int	predict_start(struct http_request *);
static int	predict_answer(struct http_request *, struct predict_state *);
static void	predict_body(struct http_request *, struct predict_state *);
static void	predict_onfree(struct http_request *);
static double	predict_round(double, double);
static int	predict_score(const struct model *, const char *, size_t,
		    struct recorder_row *);
static void	predict_count(const struct recorder_row *);

int
api_predict_post(struct http_request *req)
{
	struct predict_state	*st;

	if (!http_state_exists(req))
		return (predict_start(req));

	st = http_state_get(req);
	if (st->row.state != RECORDER_DONE) {
		/* Woken before our batch finished: sleep again. */
		http_request_sleep(req);
		return (KORE_RESULT_RETRY);
	}
	return (predict_answer(req, st));
}

/* First call: everything up to handing the row to the recorder. */
static int
predict_start(struct http_request *req)
{
	struct predict_state	*st;
	struct schema_predict	 in;
	struct registry_entry	*ver, *shadow;
	char			 client[INET6_ADDRSTRLEN];
	json_t			*body, *details;
	const char		*field, *why;

	body = NULL;
	details = NULL;

	if (!gate_method(req, HTTP_METHOD_POST))
		goto done;
	if (!http_json_read(req, &body))
		goto done;

	details = json_array();
	if (!schema_predict(body, &in, details)) {
		http_json_error(req, 422, "validation_failed",
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
	if ((ver = routing_pick(in.model, in.model_version, in.routing_key !=
	    NULL ? in.routing_key : client, &shadow, &field, &why)) == NULL) {
		http_json_error(req, 422, "validation_failed",
		    "the request names no loaded model version",
		    json_pack("[{s:s,s:s}]", "field", field, "message", why));
		goto done;
	}

	st = http_json_state(req, sizeof(*st), predict_onfree);
	if (!predict_score(ver->model, in.text, in.len, &st->row)) {
		http_json_error(req, 422, "validation_failed",
		    "the text cannot be scored", json_pack("[{s:s,s:s}]",
		    "field", "text", "message", "must be valid UTF-8 text"));
		goto done;
	}
	st->include_metrics = in.include_metrics;
	st->row.req = req;
	st->row.input_length = in.codepoints;
	memcpy(st->row.client, client, sizeof(client));
	/* The shadow scores the same text now; its row goes after ours. */
	if (shadow != NULL && predict_score(shadow->model, in.text, in.len,
	    &st->shadow_row)) {
		st->shadow = shadow->model;
		st->shadow_row.input_length = in.codepoints;
		memcpy(st->shadow_row.shadow_of, st->row.id,
		    sizeof(st->row.id));
	}

	json_decref(body);
	body = NULL;

	recorder_submit(&st->row);
	if (st->row.state == RECORDER_DONE)	/* failed before sending */
		return (predict_answer(req, st));
	http_request_sleep(req);
	return (KORE_RESULT_RETRY);

done:
	json_decref(body);
	json_decref(details);
	return (KORE_RESULT_OK);
}

/* The batch holding our row has finished: tell the client. */
static int
predict_answer(struct http_request *req, struct predict_state *st)
{
	struct recorder_row	*row;

	row = &st->row;
	switch (row->status) {
	case HTTP_STATUS_OK:
		break;
	case 429:
		stats_me()->ratelimited[STATS_LIMITED_PREDICT]++;
		ratelimit_reject(req, row->limit, row->reset_s);
		return (KORE_RESULT_OK);
	case HTTP_STATUS_SERVICE_UNAVAILABLE:
		http_response_header(req, "retry-after", "1");
		if (row->unknown) {
			/* Say so: a retry may record the text twice. */
			http_json_error(req, row->status,
			    "database_unavailable", "the database stopped "
			    "answering while recording the prediction; it may "
			    "or may not have been stored", json_pack(
			    "[{s:s}]", "prediction_id", row->id));
		} else {
			http_json_error(req, row->status,
			    "database_unavailable", "the prediction could "
			    "not be recorded; nothing was stored, retry",
			    NULL);
		}
		return (KORE_RESULT_OK);
	default:
		http_json_error(req, row->status, "internal",
		    "internal error while recording the prediction", NULL);
		return (KORE_RESULT_OK);
	}

	predict_count(row);
	if (st->shadow != NULL)
		recorder_submit_shadow(st->shadow, row->client, &st->shadow_row,
		    1);
	ratelimit_headers(req, row->limit, row->remaining, row->reset_s);
	predict_body(req, st);
	return (KORE_RESULT_OK);
}

/*
 * Scores text with m into row (result, timing, a new id), rounded once:
 * what the client sees is what is stored.  0: the text cannot be scored.
 */
static int
predict_score(const struct model *m, const char *text, size_t len,
    struct recorder_row *row)
{
	struct timespec	t0, t1;
	double		ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!model_predict(m, text, len, &row->result))
		return (0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	row->model = m;
	row->result.confidence = predict_round(row->result.confidence, 1e6);
	row->inference_ms = predict_round(ms, 1e3);
	/* Under the microsecond the clock resolves: the original's clients
	 * take a time > 0 (docs/compat.md). */
	if (row->inference_ms < 0.001)
		row->inference_ms = 0.001;
	uuid_v7_now(row->id);
	return (1);
}

/*
 * The 200's body, written straight into a buffer (json_out.c): this is
 * the answer sent thousands of times a second.  Every number was rounded
 * to the decimals given here (model.c, predict_start).
 */
static void
predict_body(struct http_request *req, struct predict_state *st)
{
	struct recorder_row	*row;
	struct json_out		 o;
	char			 buf[1024];
	const char		*text;
	size_t			 len;

	row = &st->row;
	len = 0;
	json_out_init(&o, buf, sizeof(buf));
	json_out_open(&o, NULL);
	json_out_str(&o, "sentiment", row->result.label);
	json_out_fixed(&o, "confidence", row->result.confidence, 6);
	json_out_fixed(&o, "inference_time_ms", row->inference_ms, 3);
	json_out_str(&o, "timestamp", row->created_at);
	json_out_str(&o, "model_version", model_version(row->model));
	json_out_str(&o, "prediction_id", row->id);
	if (st->include_metrics) {
		/* The original server's PredictionMetric, then our scores. */
		json_out_open(&o, "metric");
		json_out_str(&o, "prediction_id", row->id);
		json_out_str(&o, "sentiment", row->result.label);
		json_out_fixed(&o, "confidence", row->result.confidence, 6);
		json_out_fixed(&o, "inference_time_ms", row->inference_ms, 3);
		json_out_int(&o, "input_length", row->input_length);
		json_out_str(&o, "timestamp", row->created_at);
		json_out_str(&o, "model_version", model_version(row->model));
		json_out_str(&o, "model_name", model_name(row->model));
		json_out_fixed(&o, "compound", row->result.compound, 4);
		json_out_fixed(&o, "pos", row->result.pos, 3);
		json_out_fixed(&o, "neu", row->result.neu, 3);
		json_out_fixed(&o, "neg", row->result.neg, 3);
		json_out_close(&o);
	}
	json_out_close(&o);
	text = json_out_done(&o, &len);
	http_json_reply_text(req, HTTP_STATUS_OK, text, len);
}

/* The request is going away (answered, or its client left). */
static void
predict_onfree(struct http_request *req)
{
	struct predict_state	*st;

	if ((st = http_state_get(req)) != NULL)
		recorder_cancel(&st->row);
}

static double
predict_round(double v, double scale)
{
	return (round(v * scale) / scale);
}

/* A prediction was recorded: count it by label, time the model. */
static void
predict_count(const struct recorder_row *row)
{
	struct stats_worker	*sw;

	sw = stats_me();
	sw->predictions[stats_label_of(row->result.label)]++;
	stats_observe(&sw->inference_ms, STATS_HIST_MS, row->inference_ms);
	stats_version(sw, registry_index(&app.registry, row->model),
	    stats_label_of(row->result.label), row->inference_ms);
}
