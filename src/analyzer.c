/*
 * analyzer.c: the performance analysis, minus the I/O.
 *
 * - analyzer_inputs_parse() reads app.analyze_inputs()'s JSON and rounds
 *   the statistics once; everything after (cache key, prompt, rules,
 *   report) sees the same rounded numbers, so a cached report always
 *   matches the inputs its key names.
 * - analyzer_cache_input() is the canonical string whose md5 is the cache
 *   key; analyzer_prompt() and analyzer_response_schema() are what Gemini
 *   is asked.
 * - analyzer_report_parse() validates Gemini's answer field by field and
 *   keeps only the fields we know: model output never reaches a client
 *   unchecked.
 * - analyzer_rules() is the built-in analyzer: the thresholds table's
 *   levels, trends against the previous window, the label mix.
 * - analyzer_report() assembles what the client receives.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"

/* Caps on Gemini's report (bytes; items). */
#define ANALYZER_SUMMARY_MAX	4000
#define ANALYZER_TEXT_MAX	2000
#define ANALYZER_TYPE_MAX	64
#define ANALYZER_ITEMS_MAX	20

/* Trend rules: percent against the previous window (no table holds
 * these; the level rules use the thresholds table). */
#define ANALYZER_CONF_DROP_MEDIUM	10.0
#define ANALYZER_CONF_DROP_HIGH		25.0
#define ANALYZER_P95_RISE_LOW		50.0
#define ANALYZER_P95_RISE_MEDIUM	100.0
#define ANALYZER_VOLUME_LOW		50.0
#define ANALYZER_VOLUME_SPIKE_MEDIUM	200.0
#define ANALYZER_VOLUME_DROP_MEDIUM	80.0
#define ANALYZER_TVD_LOW		0.10
#define ANALYZER_TVD_MEDIUM		0.20
/* Candidate against baseline: confidence lower by, P95 times, agreement. */
#define ANALYZER_CMP_CONF		0.05
#define ANALYZER_CMP_P95		1.5
#define ANALYZER_CMP_AGREEMENT		0.8
#define ANALYZER_TVD_HIGH		0.35

enum analyzer_severity {
	SEV_NONE,
	SEV_LOW,
	SEV_MEDIUM,
	SEV_HIGH,
	SEV_CRITICAL,
};

struct analyzer_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 oom;
};

static const char *const analyzer_severities[] = {
	"none", "low", "medium", "high", "critical",
};

static int	analyzer_window_parse(const json_t *, struct analyzer_window *,
		    char *, size_t, const char *);
static int	analyzer_num(const json_t *, const char *, double *, int *);
static int	analyzer_count(const json_t *, const char *, long long *);
static void	analyzer_copy_str(char *, size_t, const json_t *);
static double	analyzer_round_dec(double, int);
static void	analyzer_appendf(struct analyzer_buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	analyzer_append_window(struct analyzer_buf *,
		    const struct analyzer_window *);
static void	analyzer_prompt_window(struct analyzer_buf *, const char *,
		    const struct analyzer_window *);
static const char	*analyzer_fmt(char *, size_t, int, double,
			    const char *);
static const char	*analyzer_pct(char *, size_t, int, double);
static const json_t	*analyzer_string_field(const json_t *, const char *,
			    size_t, int, char *, size_t);
static int	analyzer_severity(const char *);
static void	analyzer_issue(json_t *, enum analyzer_severity *,
		    const char *, enum analyzer_severity, const char *, ...)
		    __attribute__((format(printf, 5, 6)));
static json_t	*analyzer_window_json(const struct analyzer_window *);
static json_t	*analyzer_aggregated_json(const struct analyzer_window *,
		    const char *);
static json_t	*analyzer_opt(int, double);
static int	analyzer_comparison_parse(const json_t *,
		    struct analyzer_comparison *, char *, size_t);
static void	analyzer_comparison_rules(const struct analyzer_inputs *,
		    json_t *, json_t *, enum analyzer_severity *);

/*
 * Reads the JSON of app.analyze_inputs() into in, rounding statistics:
 * confidences to 3 decimals, times to 3 significant digits.  Returns 1,
 * or 0 with the reason in err.
 */
int
analyzer_inputs_parse(const json_t *root, struct analyzer_inputs *in,
    char *err, size_t errlen)
{
	const json_t	*thr, *w, *name;
	double		 v;
	int		 have;

	memset(in, 0, sizeof(*in));
	if (!json_is_object(root)) {
		snprintf(err, errlen, "inputs are not an object");
		return (0);
	}

	w = json_object_get(root, "window_minutes");
	if (!json_is_integer(w) || json_integer_value(w) < 1 ||
	    json_integer_value(w) > 1440) {
		snprintf(err, errlen, "window_minutes is not 1..1440");
		return (0);
	}
	in->window_minutes = (int)json_integer_value(w);

	name = json_object_get(root, "model_name");
	if (name != NULL && !json_is_null(name) &&
	    (!json_is_string(name) ||
	    json_string_length(name) >= sizeof(in->model_name))) {
		snprintf(err, errlen, "model_name is not a short string");
		return (0);
	}
	analyzer_copy_str(in->model_name, sizeof(in->model_name), name);
	analyzer_copy_str(in->status, sizeof(in->status),
	    json_object_get(root, "status"));

	if (!analyzer_window_parse(json_object_get(root, "current"),
	    &in->cur, err, errlen, "current") ||
	    !analyzer_window_parse(json_object_get(root, "previous"),
	    &in->prev, err, errlen, "previous"))
		return (0);

	thr = json_object_get(root, "thresholds");
	if (!json_is_object(thr)) {
		snprintf(err, errlen, "thresholds are missing");
		return (0);
	}
	analyzer_copy_str(in->thr.model_name, sizeof(in->thr.model_name),
	    json_object_get(thr, "model_name"));
	if (!analyzer_num(thr, "min_confidence_warning", &v, &have) || !have)
		goto badthr;
	in->thr.confidence_warning = v;
	if (!analyzer_num(thr, "min_confidence_critical", &v, &have) || !have)
		goto badthr;
	in->thr.confidence_critical = v;
	if (!analyzer_num(thr, "max_inference_time_warning_ms", &v, &have) ||
	    !have)
		goto badthr;
	in->thr.p95_warning_ms = v;
	if (!analyzer_num(thr, "max_inference_time_critical_ms", &v, &have) ||
	    !have)
		goto badthr;
	in->thr.p95_critical_ms = v;
	return (analyzer_comparison_parse(json_object_get(root, "comparison"),
	    &in->cmp, err, errlen));

badthr:
	snprintf(err, errlen, "thresholds are incomplete");
	return (0);
}

/* The changes from the previous window to the current one. */
void
analyzer_changes(const struct analyzer_inputs *in, struct analyzer_changes *c)
{
	const struct analyzer_window	*cur = &in->cur, *prev = &in->prev;
	double				 p[3], q[3];
	int				 i;

	memset(c, 0, sizeof(*c));

	if (cur->have_confidence && prev->have_confidence &&
	    prev->avg_confidence > 0) {
		c->have_confidence = 1;
		c->confidence_pct = analyzer_round_dec((cur->avg_confidence -
		    prev->avg_confidence) / prev->avg_confidence * 100, 1);
	}
	if (cur->have_p95 && prev->have_p95 && prev->p95_ms > 0) {
		c->have_p95 = 1;
		c->p95_pct = analyzer_round_dec((cur->p95_ms - prev->p95_ms) /
		    prev->p95_ms * 100, 1);
	}
	if (prev->total > 0) {
		c->have_volume = 1;
		c->volume_pct = analyzer_round_dec((double)(cur->total -
		    prev->total) / (double)prev->total * 100, 1);
	}
	if (cur->total > 0 && prev->total > 0) {
		p[0] = (double)cur->positive / (double)cur->total;
		p[1] = (double)cur->negative / (double)cur->total;
		p[2] = (double)cur->neutral / (double)cur->total;
		q[0] = (double)prev->positive / (double)prev->total;
		q[1] = (double)prev->negative / (double)prev->total;
		q[2] = (double)prev->neutral / (double)prev->total;
		c->label_tvd = 0;
		for (i = 0; i < 3; i++)
			c->label_tvd += fabs(p[i] - q[i]);
		c->have_tvd = 1;
		c->label_tvd = analyzer_round_dec(c->label_tvd / 2, 3);
	}
}

/* v rounded to digits significant digits (0 stays 0). */
double
analyzer_round_sig(double v, int digits)
{
	double	mag, scale;

	if (v == 0 || !isfinite(v))
		return (v);
	mag = ceil(log10(fabs(v)));
	scale = pow(10, digits - mag);
	return (round(v * scale) / scale);
}

/*
 * The canonical string the cache key is the md5 of: every input the
 * prompt is built from, plus the prompt version and the generation
 * settings.  Returns a malloc'd string, or NULL.
 */
char *
analyzer_cache_input(const struct analyzer_inputs *in, const char *model,
    double temperature, int max_tokens)
{
	struct analyzer_buf	b;

	memset(&b, 0, sizeof(b));
	analyzer_appendf(&b, "analyze/1|prompt=%s|gemini=%s|temperature=%.6g|"
	    "max_tokens=%d|window=%d|model=%s|cur=", ANALYZER_PROMPT_VERSION,
	    model, temperature, max_tokens, in->window_minutes,
	    in->model_name[0] != '\0' ? in->model_name : "*");
	analyzer_append_window(&b, &in->cur);
	analyzer_appendf(&b, "|prev=");
	analyzer_append_window(&b, &in->prev);
	analyzer_appendf(&b, "|thr=%.6g,%.6g,%.6g,%.6g",
	    in->thr.confidence_warning, in->thr.confidence_critical,
	    in->thr.p95_warning_ms, in->thr.p95_critical_ms);
	if (in->cmp.have) {
		analyzer_appendf(&b, "|cmp=%s,%s,%lld,%.3f|cand=",
		    in->cmp.candidate_version, in->cmp.baseline_version,
		    in->cmp.pairs, in->cmp.have_agreement ?
		    in->cmp.agreement : -1.0);
		analyzer_append_window(&b, &in->cmp.candidate);
		analyzer_appendf(&b, "|base=");
		analyzer_append_window(&b, &in->cmp.baseline);
	}
	if (b.oom) {
		free(b.p);
		return (NULL);
	}
	return (b.p);
}

/*
 * The prompt (version ANALYZER_PROMPT_VERSION).  Only numbers and the
 * validated model name go in: no client text can steer the model.
 * Returns a malloc'd string, or NULL.
 */
char *
analyzer_prompt(const struct analyzer_inputs *in)
{
	struct analyzer_buf	b;
	struct analyzer_changes	c;
	char			a[32], d[32], e[32], f[32];

	memset(&b, 0, sizeof(b));
	analyzer_changes(in, &c);

	analyzer_appendf(&b,
	    "You are a site reliability engineer reviewing a production "
	    "sentiment-analysis model (%s). Compare the current time window "
	    "with the previous window of the same length (%d minutes each) "
	    "and report performance problems.\n\n",
	    in->model_name[0] != '\0' ? in->model_name : "all models",
	    in->window_minutes);
	analyzer_prompt_window(&b, "Current window", &in->cur);
	analyzer_prompt_window(&b, "Previous window", &in->prev);
	analyzer_appendf(&b, "Changes, current vs previous: average "
	    "confidence %s, P95 inference time %s, prediction volume %s, "
	    "label distribution total variation distance %s.\n",
	    analyzer_pct(a, sizeof(a), c.have_confidence, c.confidence_pct),
	    analyzer_pct(d, sizeof(d), c.have_p95, c.p95_pct),
	    analyzer_pct(e, sizeof(e), c.have_volume, c.volume_pct),
	    analyzer_fmt(f, sizeof(f), c.have_tvd, c.label_tvd, "%.3f"));
	analyzer_appendf(&b, "Thresholds: average confidence at or below "
	    "%.6g is a warning, at or below %.6g is critical; P95 inference "
	    "time at or above %.6g ms is a warning, at or above %.6g ms is "
	    "critical.\n\n", in->thr.confidence_warning,
	    in->thr.confidence_critical, in->thr.p95_warning_ms,
	    in->thr.p95_critical_ms);
	if (in->cmp.have) {
		analyzer_appendf(&b, "A candidate version is being compared "
		    "with its baseline over the current window: candidate "
		    "version %s, baseline version %s.\n",
		    in->cmp.candidate_version, in->cmp.baseline_version);
		analyzer_prompt_window(&b, "Candidate version",
		    &in->cmp.candidate);
		analyzer_prompt_window(&b, "Baseline version",
		    &in->cmp.baseline);
		analyzer_appendf(&b, "On %lld inputs scored by both (the "
		    "candidate as a shadow), the labels agreed %s.\n"
		    "Say whether the candidate is fit to take more traffic, "
		    "and report each way it is worse than the baseline as an "
		    "issue whose issue_type starts with candidate_.\n\n",
		    in->cmp.pairs, analyzer_fmt(a, sizeof(a),
		    in->cmp.have_agreement, in->cmp.agreement * 100,
		    "%.1f%%"));
	}
	analyzer_appendf(&b,
	    "Answer with one JSON object with these fields:\n"
	    "- summary: at most three sentences on the model's health.\n"
	    "- identified_issues: a list of {issue_type (snake_case), "
	    "severity (low, medium, high or critical), description}; empty "
	    "if there is no problem.\n"
	    "- recommendations: a list of concrete actions for the "
	    "operators.\n"
	    "- root_cause_hypothesis: the most likely cause, or a statement "
	    "that no anomaly was found.\n"
	    "- confidence_score: a number from 0 to 1, how sure you are.\n"
	    "Severity must follow the thresholds: a warning level is medium, "
	    "a critical level is high or critical. With fewer than %d "
	    "predictions in the current window, say plainly that there is "
	    "too little data and keep confidence_score low. Use only the "
	    "numbers given here.\n", ANALYZER_MIN_PREDICTIONS);
	if (b.oom) {
		free(b.p);
		return (NULL);
	}
	return (b.p);
}

/* The responseSchema (OpenAPI subset) of the report.  New reference. */
json_t *
analyzer_response_schema(void)
{
	return (json_pack("{s:s,s:{s:{s:s},s:{s:s,s:{s:s,s:{s:{s:s},"
	    "s:{s:s,s:s,s:[s,s,s,s]},s:{s:s}},s:[s,s,s]}},s:{s:s,s:{s:s}},"
	    "s:{s:s},s:{s:s,s:f,s:f}},s:[s,s,s,s,s],s:[s,s,s,s,s]}",
	    "type", "OBJECT",
	    "properties",
	    "summary", "type", "STRING",
	    "identified_issues", "type", "ARRAY", "items",
	    "type", "OBJECT", "properties",
	    "issue_type", "type", "STRING",
	    "severity", "type", "STRING", "format", "enum", "enum",
	    "low", "medium", "high", "critical",
	    "description", "type", "STRING",
	    "required", "issue_type", "severity", "description",
	    "recommendations", "type", "ARRAY", "items", "type", "STRING",
	    "root_cause_hypothesis", "type", "STRING",
	    "confidence_score", "type", "NUMBER", "minimum", 0.0,
	    "maximum", 1.0,
	    "required", "summary", "identified_issues", "recommendations",
	    "root_cause_hypothesis", "confidence_score",
	    "propertyOrdering", "summary", "identified_issues",
	    "recommendations", "root_cause_hypothesis", "confidence_score"));
}

/*
 * Validates text as a report: an object with summary, identified_issues
 * [{issue_type, severity, description}], recommendations, a
 * root_cause_hypothesis and a confidence_score in 0..1.  Returns a new
 * object holding only those fields, or NULL with the first problem in
 * err (field names only, never the model's text).
 */
json_t *
analyzer_report_parse(const char *text, size_t len, char *err, size_t errlen)
{
	json_t		*root, *out, *issues, *recs, *list, *item;
	const json_t	*s, *type, *sev, *desc, *score;
	json_error_t	 jerr;
	size_t		 i;
	double		 v;
	char		 field[64];

	out = NULL;
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "report is not JSON");
		return (NULL);
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "report is not an object");
		goto fail;
	}
	out = json_object();

	if ((s = analyzer_string_field(root, "summary", ANALYZER_SUMMARY_MAX,
	    1, err, errlen)) == NULL)
		goto fail;
	json_object_set_new(out, "summary", json_string(json_string_value(s)));

	issues = json_object_get(root, "identified_issues");
	if (issues == NULL) {
		snprintf(err, errlen, "identified_issues: missing");
		goto fail;
	}
	if (!json_is_array(issues) ||
	    json_array_size(issues) > ANALYZER_ITEMS_MAX) {
		snprintf(err, errlen, "identified_issues: not a list of at "
		    "most %d", ANALYZER_ITEMS_MAX);
		goto fail;
	}
	list = json_array();
	json_object_set_new(out, "identified_issues", list);
	json_array_foreach(issues, i, item) {
		snprintf(field, sizeof(field), "identified_issues[%zu]", i);
		if (!json_is_object(item)) {
			snprintf(err, errlen, "%s: not an object", field);
			goto fail;
		}
		if ((type = analyzer_string_field(item, "issue_type",
		    ANALYZER_TYPE_MAX, 1, err, errlen)) == NULL ||
		    (sev = analyzer_string_field(item, "severity", 16, 1, err,
		    errlen)) == NULL ||
		    (desc = analyzer_string_field(item, "description",
		    ANALYZER_TEXT_MAX, 1, err, errlen)) == NULL)
			goto fail;
		if (analyzer_severity(json_string_value(sev)) == SEV_NONE) {
			snprintf(err, errlen, "%s.severity: not low, medium, "
			    "high or critical", field);
			goto fail;
		}
		json_array_append_new(list, json_pack("{s:s,s:s,s:s}",
		    "issue_type", json_string_value(type),
		    "severity", json_string_value(sev),
		    "description", json_string_value(desc)));
	}

	recs = json_object_get(root, "recommendations");
	if (recs == NULL) {
		snprintf(err, errlen, "recommendations: missing");
		goto fail;
	}
	if (!json_is_array(recs) ||
	    json_array_size(recs) > ANALYZER_ITEMS_MAX) {
		snprintf(err, errlen, "recommendations: not a list of at "
		    "most %d", ANALYZER_ITEMS_MAX);
		goto fail;
	}
	list = json_array();
	json_object_set_new(out, "recommendations", list);
	json_array_foreach(recs, i, item) {
		if (!json_is_string(item) || json_string_length(item) == 0 ||
		    json_string_length(item) > ANALYZER_TEXT_MAX) {
			snprintf(err, errlen, "recommendations[%zu]: not a "
			    "string of 1..%d bytes", i, ANALYZER_TEXT_MAX);
			goto fail;
		}
		json_array_append_new(list, json_string(
		    json_string_value(item)));
	}

	if ((s = analyzer_string_field(root, "root_cause_hypothesis",
	    ANALYZER_TEXT_MAX, 1, err, errlen)) == NULL)
		goto fail;
	json_object_set_new(out, "root_cause_hypothesis",
	    json_string(json_string_value(s)));

	score = json_object_get(root, "confidence_score");
	if (!json_is_number(score)) {
		snprintf(err, errlen, "confidence_score: %s",
		    score == NULL ? "missing" : "not a number");
		goto fail;
	}
	v = json_number_value(score);
	if (!isfinite(v) || v < 0 || v > 1) {
		snprintf(err, errlen, "confidence_score: not in 0..1");
		goto fail;
	}
	json_object_set_new(out, "confidence_score", json_real(v));

	json_decref(root);
	return (out);

fail:
	json_decref(out);
	json_decref(root);
	return (NULL);
}

/*
 * The built-in analyzer: the same report core as Gemini's, from rules.
 * Levels follow the thresholds table (a warning level is medium, a
 * critical one high, and critical once it is a whole band past the
 * critical threshold); trends compare with the previous window.
 * Returns a new object.
 */
json_t *
analyzer_rules(const struct analyzer_inputs *in)
{
	const struct analyzer_window	*cur = &in->cur, *prev = &in->prev;
	const struct analyzer_thresholds *t = &in->thr;
	struct analyzer_changes		 c;
	struct analyzer_buf		 sum;
	enum analyzer_severity		 worst, sev;
	json_t				*issues, *recs, *out;
	const char			*cause;
	char				 a[32], b[32];
	double				 score, band;
	int				 base, lvl_conf, lvl_p95, trend_conf;
	int				 trend_p95, shift, volume;

	analyzer_changes(in, &c);
	issues = json_array();
	recs = json_array();
	worst = SEV_NONE;
	lvl_conf = lvl_p95 = trend_conf = trend_p95 = shift = volume = 0;
	/* Trends need enough data on both sides. */
	base = cur->total >= ANALYZER_MIN_PREDICTIONS &&
	    prev->total >= ANALYZER_MIN_PREDICTIONS;

	if (cur->total < ANALYZER_MIN_PREDICTIONS) {
		if (cur->total == 0) {
			analyzer_issue(issues, &worst, "insufficient_data",
			    SEV_LOW, "No predictions in the last %d minutes: "
			    "there is nothing to analyze.", in->window_minutes);
		} else {
			analyzer_issue(issues, &worst, "insufficient_data",
			    SEV_LOW, "Only %lld prediction%s in the last %d "
			    "minutes; at least %d are needed for a reliable "
			    "analysis.", cur->total, cur->total == 1 ? "" : "s",
			    in->window_minutes, ANALYZER_MIN_PREDICTIONS);
		}
	}

	/* Levels, from the thresholds table. */
	if (cur->have_confidence &&
	    cur->avg_confidence <= t->confidence_warning) {
		band = t->confidence_warning - t->confidence_critical;
		if (cur->avg_confidence <= t->confidence_critical - band)
			sev = SEV_CRITICAL;
		else if (cur->avg_confidence <= t->confidence_critical)
			sev = SEV_HIGH;
		else
			sev = SEV_MEDIUM;
		lvl_conf = 1;
		analyzer_issue(issues, &worst, "low_confidence", sev,
		    "Average confidence is %.3f, at or below the %s threshold "
		    "of %.6g.", cur->avg_confidence, sev == SEV_MEDIUM ?
		    "warning" : "critical", sev == SEV_MEDIUM ?
		    t->confidence_warning : t->confidence_critical);
	}
	if (cur->have_p95 && cur->p95_ms >= t->p95_warning_ms) {
		band = t->p95_critical_ms - t->p95_warning_ms;
		if (cur->p95_ms >= t->p95_critical_ms + band)
			sev = SEV_CRITICAL;
		else if (cur->p95_ms >= t->p95_critical_ms)
			sev = SEV_HIGH;
		else
			sev = SEV_MEDIUM;
		lvl_p95 = 1;
		analyzer_issue(issues, &worst, "high_latency", sev,
		    "P95 inference time is %.6g ms, at or above the %s "
		    "threshold of %.6g ms.", cur->p95_ms, sev == SEV_MEDIUM ?
		    "warning" : "critical", sev == SEV_MEDIUM ?
		    t->p95_warning_ms : t->p95_critical_ms);
	}

	/* Trends against the previous window. */
	if (base && c.have_confidence &&
	    -c.confidence_pct >= ANALYZER_CONF_DROP_MEDIUM) {
		trend_conf = 1;
		analyzer_issue(issues, &worst, "confidence_drop",
		    -c.confidence_pct >= ANALYZER_CONF_DROP_HIGH ? SEV_HIGH :
		    SEV_MEDIUM, "Average confidence fell %.1f%% against the "
		    "previous window (%.3f to %.3f).", -c.confidence_pct,
		    prev->avg_confidence, cur->avg_confidence);
	}
	if (base && c.have_p95 && c.p95_pct >= ANALYZER_P95_RISE_LOW) {
		sev = c.p95_pct >= ANALYZER_P95_RISE_MEDIUM ? SEV_MEDIUM :
		    SEV_LOW;
		/* Past the warning threshold the rise matters more. */
		if (cur->p95_ms >= t->p95_warning_ms)
			sev++;
		trend_p95 = 1;
		analyzer_issue(issues, &worst, "latency_increase", sev,
		    "P95 inference time rose %.1f%% against the previous "
		    "window (%.6g ms to %.6g ms).", c.p95_pct, prev->p95_ms,
		    cur->p95_ms);
	}
	if (base && c.have_volume && c.volume_pct >= ANALYZER_VOLUME_LOW) {
		volume = 1;
		analyzer_issue(issues, &worst, "volume_spike",
		    c.volume_pct >= ANALYZER_VOLUME_SPIKE_MEDIUM ? SEV_MEDIUM :
		    SEV_LOW, "Prediction volume rose %.1f%% (%lld to %lld).",
		    c.volume_pct, prev->total, cur->total);
	} else if (base && c.have_volume &&
	    -c.volume_pct >= ANALYZER_VOLUME_LOW) {
		volume = 1;
		analyzer_issue(issues, &worst, "volume_drop",
		    -c.volume_pct >= ANALYZER_VOLUME_DROP_MEDIUM ? SEV_MEDIUM :
		    SEV_LOW, "Prediction volume fell %.1f%% (%lld to %lld).",
		    -c.volume_pct, prev->total, cur->total);
	}
	if (base && c.have_tvd && c.label_tvd >= ANALYZER_TVD_LOW) {
		shift = 1;
		analyzer_issue(issues, &worst, "label_distribution_shift",
		    c.label_tvd >= ANALYZER_TVD_HIGH ? SEV_HIGH :
		    c.label_tvd >= ANALYZER_TVD_MEDIUM ? SEV_MEDIUM : SEV_LOW,
		    "The label mix changed: total variation distance %.3f "
		    "(positive/negative/neutral %lld/%lld/%lld now, "
		    "%lld/%lld/%lld before).", c.label_tvd, cur->positive,
		    cur->negative, cur->neutral, prev->positive,
		    prev->negative, prev->neutral);
	}

	if (in->cmp.have)
		analyzer_comparison_rules(in, issues, recs, &worst);

	/* Recommendations, one per kind of issue. */
	if (cur->total < ANALYZER_MIN_PREDICTIONS)
		json_array_append_new(recs, json_sprintf("Collect more traffic "
		    "before drawing conclusions: each window needs at least %d "
		    "predictions.", ANALYZER_MIN_PREDICTIONS));
	if (lvl_conf || trend_conf)
		json_array_append_new(recs, json_string("Review recent "
		    "low-confidence inputs and consider recalibrating or "
		    "retraining the model on current data."));
	if (lvl_p95 || trend_p95)
		json_array_append_new(recs, json_string("Check CPU and memory "
		    "pressure and recent deployments on the serving hosts; add "
		    "workers if the load is high."));
	if (volume)
		json_array_append_new(recs, json_string("Confirm the change in "
		    "traffic is expected (a launch, a batch job, a retrying or "
		    "failing client) and that capacity matches it."));
	if (shift)
		json_array_append_new(recs, json_string("Inspect a sample of "
		    "recent predictions: the label mix changed, a sign of data "
		    "drift or of a new client."));
	if (json_array_size(recs) == 0)
		json_array_append_new(recs, json_string(in->cmp.have ?
		    "The candidate matches its baseline: its share of the "
		    "traffic can grow; keep monitoring." :
		    "No action needed; keep monitoring."));

	/* The most likely cause, from the combination. */
	if (cur->total == 0)
		cause = "No traffic in the window: nothing to diagnose.";
	else if (cur->total < ANALYZER_MIN_PREDICTIONS)
		cause = "Too few predictions for a reliable diagnosis.";
	else if (shift && (lvl_conf || trend_conf))
		cause = "Input data drift: the label mix changed together with "
		    "the model's confidence.";
	else if ((lvl_p95 || trend_p95) && volume && c.volume_pct > 0)
		cause = "Load: inference slowed down as traffic rose.";
	else if (lvl_p95 || trend_p95)
		cause = "Resource contention or a slower deployment: latency "
		    "rose without a matching rise in traffic.";
	else if (lvl_conf || trend_conf)
		cause = "Harder or out-of-domain inputs lowered the model's "
		    "confidence.";
	else if (shift)
		cause = "The mix of clients or topics changed.";
	else if (volume)
		cause = "A change in client traffic.";
	else
		cause = "No anomaly: the model behaves as in the previous "
		    "window.";

	/* More data, more certainty; no baseline, less. */
	if (cur->total == 0)
		score = 0.1;
	else if (cur->total < ANALYZER_MIN_PREDICTIONS)
		score = 0.2;
	else
		score = 0.5 + 0.4 * fmin(1.0, (double)cur->total / 200.0);
	if (cur->total > 0 && prev->total < ANALYZER_MIN_PREDICTIONS)
		score -= 0.1;
	score = analyzer_round_dec(score, 2);

	memset(&sum, 0, sizeof(sum));
	analyzer_appendf(&sum, "%lld prediction%s in the last %d minutes "
	    "(previous window: %lld).", cur->total, cur->total == 1 ? "" : "s",
	    in->window_minutes, prev->total);
	if (cur->total > 0) {
		analyzer_appendf(&sum, " Average confidence %s, P95 inference "
		    "time %s ms.", analyzer_fmt(a, sizeof(a),
		    cur->have_confidence, cur->avg_confidence, "%.3f"),
		    analyzer_fmt(b, sizeof(b), cur->have_p95, cur->p95_ms,
		    "%.6g"));
	}
	if (json_array_size(issues) == 0)
		analyzer_appendf(&sum, " No issues found.");
	else
		analyzer_appendf(&sum, " %zu issue%s found; the most severe "
		    "is %s.", json_array_size(issues),
		    json_array_size(issues) == 1 ? "" : "s",
		    analyzer_severities[worst]);

	out = json_pack("{s:s?,s:o,s:o,s:s,s:f}",
	    "summary", sum.oom ? NULL : sum.p,
	    "identified_issues", issues,
	    "recommendations", recs,
	    "root_cause_hypothesis", cause,
	    "confidence_score", score);
	free(sum.p);
	return (out);
}

/*
 * The report the client receives: core (summary, identified_issues,
 * recommendations, root_cause_hypothesis, confidence_score; borrowed),
 * each issue stamped detected_at, plus generated_at, metrics_analyzed
 * (the current window as the original server's AggregatedMetrics),
 * comparison {current, previous, changes, thresholds}, source, cached
 * and, for the rules, fallback_reason and fallback_detail.  Returns a new
 * object.
 */
json_t *
analyzer_report(const json_t *core, const struct analyzer_inputs *in,
    const char *source, const char *generated_at, int cached,
    const char *reason, const char *detail)
{
	struct analyzer_changes	 c;
	json_t			*out, *issues, *issue, *copy;
	size_t			 i;

	analyzer_changes(in, &c);
	issues = json_array();
	json_array_foreach(json_object_get(core, "identified_issues"), i,
	    issue) {
		copy = json_deep_copy(issue);
		json_object_set_new(copy, "detected_at",
		    json_string(generated_at));
		json_array_append_new(issues, copy);
	}

	out = json_pack("{s:O,s:o,s:O,s:O,s:O,s:s,s:{s:o,s:o,s:{s:o,s:o,s:o,"
	    "s:o},s:{s:s,s:f,s:f,s:f,s:f}},s:s,s:b,s:i,s:s?,s:s}",
	    "summary", json_object_get(core, "summary"),
	    "identified_issues", issues,
	    "recommendations", json_object_get(core, "recommendations"),
	    "root_cause_hypothesis", json_object_get(core,
	    "root_cause_hypothesis"),
	    "confidence_score", json_object_get(core, "confidence_score"),
	    "generated_at", generated_at,
	    "comparison",
	    "current", analyzer_window_json(&in->cur),
	    "previous", analyzer_window_json(&in->prev),
	    "changes",
	    "average_confidence_pct", analyzer_opt(c.have_confidence,
	    c.confidence_pct),
	    "p95_inference_time_pct", analyzer_opt(c.have_p95, c.p95_pct),
	    "volume_pct", analyzer_opt(c.have_volume, c.volume_pct),
	    "label_distribution_tvd", analyzer_opt(c.have_tvd, c.label_tvd),
	    "thresholds",
	    "model_name", in->thr.model_name,
	    "min_confidence_warning", in->thr.confidence_warning,
	    "min_confidence_critical", in->thr.confidence_critical,
	    "max_inference_time_warning_ms", in->thr.p95_warning_ms,
	    "max_inference_time_critical_ms", in->thr.p95_critical_ms,
	    "source", source,
	    "cached", cached,
	    "time_window_minutes", in->window_minutes,
	    "model_name", in->model_name[0] != '\0' ? in->model_name : NULL,
	    "status", in->status);
	if (out == NULL)
		return (NULL);
	json_object_set_new(out, "metrics_analyzed",
	    analyzer_aggregated_json(&in->cur, in->status));
	if (reason != NULL) {
		json_object_set_new(out, "fallback_reason",
		    json_string(reason));
		if (detail != NULL && *detail != '\0')
			json_object_set_new(out, "fallback_detail",
			    json_string(detail));
	}
	return (out);
}

static int
analyzer_window_parse(const json_t *o, struct analyzer_window *w, char *err,
    size_t errlen, const char *name)
{
	double	v;

	if (!json_is_object(o)) {
		snprintf(err, errlen, "%s window is missing", name);
		return (0);
	}
	if (!analyzer_count(o, "total_predictions", &w->total) ||
	    !analyzer_count(o, "positive", &w->positive) ||
	    !analyzer_count(o, "negative", &w->negative) ||
	    !analyzer_count(o, "neutral", &w->neutral) ||
	    !analyzer_num(o, "average_confidence", &v, &w->have_confidence))
		goto bad;
	w->avg_confidence = analyzer_round_dec(v, 3);
	if (!analyzer_num(o, "average_inference_time_ms", &v, &w->have_avg_ms))
		goto bad;
	w->avg_ms = analyzer_round_sig(v, 3);
	if (!analyzer_num(o, "min_inference_time_ms", &v, &w->have_min_ms))
		goto bad;
	w->min_ms = analyzer_round_sig(v, 3);
	if (!analyzer_num(o, "max_inference_time_ms", &v, &w->have_max_ms))
		goto bad;
	w->max_ms = analyzer_round_sig(v, 3);
	if (!analyzer_num(o, "p95_inference_time_ms", &v, &w->have_p95))
		goto bad;
	w->p95_ms = analyzer_round_sig(v, 3);
	/* An empty window has no averages, whatever the SQL says. */
	if (w->total == 0) {
		w->have_confidence = w->have_avg_ms = w->have_min_ms = 0;
		w->have_max_ms = w->have_p95 = 0;
	}
	analyzer_copy_str(w->start, sizeof(w->start),
	    json_object_get(o, "start"));
	analyzer_copy_str(w->end, sizeof(w->end), json_object_get(o, "end"));
	return (1);

bad:
	snprintf(err, errlen, "%s window has a bad value", name);
	return (0);
}

/* The optional "comparison" of the inputs (absent: cmp->have 0). */
static int
analyzer_comparison_parse(const json_t *o, struct analyzer_comparison *cmp,
    char *err, size_t errlen)
{
	const json_t	*cv, *bv;
	double		 v;

	memset(cmp, 0, sizeof(*cmp));
	if (o == NULL || json_is_null(o))
		return (1);
	cv = json_object_get(o, "candidate_version");
	bv = json_object_get(o, "baseline_version");
	if (!json_is_object(o) || !json_is_string(cv) || !json_is_string(bv) ||
	    json_string_length(cv) >= sizeof(cmp->candidate_version) ||
	    json_string_length(bv) >= sizeof(cmp->baseline_version)) {
		snprintf(err, errlen, "comparison has no versions");
		return (0);
	}
	analyzer_copy_str(cmp->candidate_version,
	    sizeof(cmp->candidate_version), cv);
	analyzer_copy_str(cmp->baseline_version,
	    sizeof(cmp->baseline_version), bv);
	if (!analyzer_window_parse(json_object_get(o, "candidate"),
	    &cmp->candidate, err, errlen, "candidate") ||
	    !analyzer_window_parse(json_object_get(o, "baseline"),
	    &cmp->baseline, err, errlen, "baseline"))
		return (0);
	if (!analyzer_count(o, "pairs", &cmp->pairs) ||
	    !analyzer_num(o, "label_agreement", &v, &cmp->have_agreement)) {
		snprintf(err, errlen, "comparison has a bad value");
		return (0);
	}
	cmp->agreement = analyzer_round_dec(v, 3);
	if (cmp->pairs == 0)
		cmp->have_agreement = 0;
	cmp->have = 1;
	return (1);
}

/*
 * The candidate against its baseline, both with enough rows: lower
 * confidence, slower P95, another label mix, disagreement on the same
 * inputs.  Adds issues and their recommendations.
 */
static void
analyzer_comparison_rules(const struct analyzer_inputs *in, json_t *issues,
    json_t *recs, enum analyzer_severity *worst)
{
	const struct analyzer_comparison	*k = &in->cmp;
	const struct analyzer_window		*c = &k->candidate;
	const struct analyzer_window		*b = &k->baseline;
	double					 tvd;
	int					 found;

	found = 0;
	if (c->total < ANALYZER_MIN_PREDICTIONS ||
	    b->total < ANALYZER_MIN_PREDICTIONS) {
		analyzer_issue(issues, worst, "candidate_insufficient_data",
		    SEV_LOW, "Candidate %s has %lld and baseline %s %lld "
		    "predictions in the window; at least %d each are needed "
		    "to compare them.", k->candidate_version, c->total,
		    k->baseline_version, b->total, ANALYZER_MIN_PREDICTIONS);
		json_array_append_new(recs, json_string("Send the candidate "
		    "more traffic (a weight or a shadow) before comparing."));
		return;
	}
	if (c->have_confidence && b->have_confidence &&
	    b->avg_confidence - c->avg_confidence >= ANALYZER_CMP_CONF) {
		found = 1;
		analyzer_issue(issues, worst, "candidate_lower_confidence",
		    SEV_MEDIUM, "Candidate %s averages confidence %.3f against "
		    "%.3f for baseline %s.", k->candidate_version,
		    c->avg_confidence, b->avg_confidence, k->baseline_version);
	}
	if (c->have_p95 && b->have_p95 && b->p95_ms > 0 &&
	    c->p95_ms >= b->p95_ms * ANALYZER_CMP_P95) {
		found = 1;
		analyzer_issue(issues, worst, "candidate_slower", SEV_MEDIUM,
		    "Candidate %s has a P95 inference time of %.6g ms against "
		    "%.6g ms for baseline %s.", k->candidate_version,
		    c->p95_ms, b->p95_ms, k->baseline_version);
	}
	tvd = (fabs((double)c->positive / (double)c->total -
	    (double)b->positive / (double)b->total) +
	    fabs((double)c->negative / (double)c->total -
	    (double)b->negative / (double)b->total) +
	    fabs((double)c->neutral / (double)c->total -
	    (double)b->neutral / (double)b->total)) / 2;
	if (tvd >= ANALYZER_TVD_LOW) {
		found = 1;
		analyzer_issue(issues, worst, "candidate_label_shift",
		    tvd >= ANALYZER_TVD_MEDIUM ? SEV_MEDIUM : SEV_LOW,
		    "Candidate %s labels differently from baseline %s: total "
		    "variation distance %.3f (positive/negative/neutral "
		    "%lld/%lld/%lld against %lld/%lld/%lld).",
		    k->candidate_version, k->baseline_version,
		    analyzer_round_dec(tvd, 3), c->positive, c->negative,
		    c->neutral, b->positive, b->negative, b->neutral);
	}
	if (k->have_agreement && k->pairs >= ANALYZER_MIN_PREDICTIONS &&
	    k->agreement < ANALYZER_CMP_AGREEMENT) {
		found = 1;
		analyzer_issue(issues, worst, "candidate_disagrees",
		    k->agreement < ANALYZER_CMP_AGREEMENT / 2 ? SEV_HIGH :
		    SEV_MEDIUM, "On %lld inputs scored by both, candidate %s "
		    "and baseline %s gave the same label %.1f%% of the time.",
		    k->pairs, k->candidate_version, k->baseline_version,
		    k->agreement * 100);
	}
	if (found)
		json_array_append_new(recs, json_string("Keep the candidate's "
		    "share of the traffic small until the differences from "
		    "the baseline are understood (PUT /models/{name}/routing "
		    "to roll back)."));
}

/* A number or null (*have = 0) field; 0 for any other type. */
static int
analyzer_num(const json_t *o, const char *key, double *v, int *have)
{
	const json_t	*x;

	*v = 0;
	*have = 0;
	x = json_object_get(o, key);
	if (x == NULL || json_is_null(x))
		return (1);
	if (!json_is_number(x) || !isfinite(json_number_value(x)))
		return (0);
	*v = json_number_value(x);
	*have = 1;
	return (1);
}

/* A count: a non-negative integer, or null for 0. */
static int
analyzer_count(const json_t *o, const char *key, long long *v)
{
	const json_t	*x;

	*v = 0;
	x = json_object_get(o, key);
	if (x == NULL || json_is_null(x))
		return (1);
	if (!json_is_integer(x) || json_integer_value(x) < 0)
		return (0);
	*v = json_integer_value(x);
	return (1);
}

static void
analyzer_copy_str(char *dst, size_t len, const json_t *s)
{
	snprintf(dst, len, "%s", json_is_string(s) ? json_string_value(s) :
	    "");
}

static double
analyzer_round_dec(double v, int decimals)
{
	double	scale;

	scale = pow(10, decimals);
	return (round(v * scale) / scale);
}

static void
analyzer_appendf(struct analyzer_buf *b, const char *fmt, ...)
{
	va_list		 ap;
	size_t		 need, cap;
	char		*p;
	int		 n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	need = b->len + (size_t)n + 1;
	if (need > b->cap) {
		cap = b->cap > 0 ? b->cap : 256;
		while (cap < need)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	va_start(ap, fmt);
	(void)vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void
analyzer_append_window(struct analyzer_buf *b, const struct analyzer_window *w)
{
	char	v[5][32];

	analyzer_appendf(b, "%lld,%s,%s,%s,%s,%s,%lld,%lld,%lld", w->total,
	    analyzer_fmt(v[0], sizeof(v[0]), w->have_confidence,
	    w->avg_confidence, "%.6g"),
	    analyzer_fmt(v[1], sizeof(v[1]), w->have_avg_ms, w->avg_ms, "%.6g"),
	    analyzer_fmt(v[2], sizeof(v[2]), w->have_min_ms, w->min_ms, "%.6g"),
	    analyzer_fmt(v[3], sizeof(v[3]), w->have_max_ms, w->max_ms, "%.6g"),
	    analyzer_fmt(v[4], sizeof(v[4]), w->have_p95, w->p95_ms, "%.6g"),
	    w->positive, w->negative, w->neutral);
}

static void
analyzer_prompt_window(struct analyzer_buf *b, const char *name,
    const struct analyzer_window *w)
{
	char	v[5][32];

	analyzer_appendf(b, "%s: %lld predictions (positive %lld, negative "
	    "%lld, neutral %lld); average confidence %s; inference time in "
	    "ms: average %s, minimum %s, maximum %s, P95 %s.\n", name,
	    w->total, w->positive, w->negative, w->neutral,
	    analyzer_fmt(v[0], sizeof(v[0]), w->have_confidence,
	    w->avg_confidence, "%.3f"),
	    analyzer_fmt(v[1], sizeof(v[1]), w->have_avg_ms, w->avg_ms, "%.6g"),
	    analyzer_fmt(v[2], sizeof(v[2]), w->have_min_ms, w->min_ms, "%.6g"),
	    analyzer_fmt(v[3], sizeof(v[3]), w->have_max_ms, w->max_ms, "%.6g"),
	    analyzer_fmt(v[4], sizeof(v[4]), w->have_p95, w->p95_ms, "%.6g"));
}

/* v with fmt, or "n/a" when missing (have 0). */
static const char *
analyzer_fmt(char *buf, size_t len, int have, double v, const char *fmt)
{
	if (!have) {
		snprintf(buf, len, "n/a");
		return (buf);
	}
	snprintf(buf, len, fmt, v);
	return (buf);
}

static const char *
analyzer_pct(char *buf, size_t len, int have, double v)
{
	if (!have)
		snprintf(buf, len, "n/a");
	else
		snprintf(buf, len, "%+.1f%%", v);
	return (buf);
}

/*
 * The string field key of o, 1..max bytes (or 0..max when !required);
 * NULL with err set otherwise.
 */
static const json_t *
analyzer_string_field(const json_t *o, const char *key, size_t max,
    int required, char *err, size_t errlen)
{
	const json_t	*s;

	s = json_object_get(o, key);
	if (s == NULL) {
		snprintf(err, errlen, "%s: missing", key);
		return (NULL);
	}
	if (!json_is_string(s)) {
		snprintf(err, errlen, "%s: not a string", key);
		return (NULL);
	}
	if ((required && json_string_length(s) == 0) ||
	    json_string_length(s) > max) {
		snprintf(err, errlen, "%s: not 1..%zu bytes", key, max);
		return (NULL);
	}
	return (s);
}

static int
analyzer_severity(const char *s)
{
	int	i;

	for (i = SEV_LOW; i <= SEV_CRITICAL; i++) {
		if (strcmp(s, analyzer_severities[i]) == 0)
			return (i);
	}
	return (SEV_NONE);
}

static void
analyzer_issue(json_t *issues, enum analyzer_severity *worst,
    const char *type, enum analyzer_severity sev, const char *fmt, ...)
{
	va_list	ap;
	char	desc[512];

	if (sev > SEV_CRITICAL)
		sev = SEV_CRITICAL;
	va_start(ap, fmt);
	(void)vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	json_array_append_new(issues, json_pack("{s:s,s:s,s:s}",
	    "issue_type", type, "severity", analyzer_severities[sev],
	    "description", desc));
	if (sev > *worst)
		*worst = sev;
}

static json_t *
analyzer_window_json(const struct analyzer_window *w)
{
	return (json_pack("{s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:{s:I,s:I,s:I}}",
	    "window_start", w->start,
	    "window_end", w->end,
	    "total_predictions", (json_int_t)w->total,
	    "average_confidence", analyzer_opt(w->have_confidence,
	    w->avg_confidence),
	    "average_inference_time_ms", analyzer_opt(w->have_avg_ms,
	    w->avg_ms),
	    "min_inference_time_ms", analyzer_opt(w->have_min_ms, w->min_ms),
	    "max_inference_time_ms", analyzer_opt(w->have_max_ms, w->max_ms),
	    "p95_inference_time_ms", analyzer_opt(w->have_p95, w->p95_ms),
	    "label_distribution",
	    "positive", (json_int_t)w->positive,
	    "negative", (json_int_t)w->negative,
	    "neutral", (json_int_t)w->neutral));
}

/*
 * The window in the shape of the original server's AggregatedMetrics
 * (its metrics_analyzed), with our label_distribution beside its
 * sentiment_distribution, as POST /metrics/aggregated answers.
 */
static json_t *
analyzer_aggregated_json(const struct analyzer_window *w, const char *status)
{
	json_t	*dist;

	dist = json_pack("{s:I,s:I,s:I}", "positive", (json_int_t)w->positive,
	    "negative", (json_int_t)w->negative,
	    "neutral", (json_int_t)w->neutral);
	return (json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:O,s:s,s:s,s:s,s:o}",
	    "total_predictions", (json_int_t)w->total,
	    "average_confidence", analyzer_opt(w->have_confidence,
	    w->avg_confidence),
	    "average_inference_time_ms", analyzer_opt(w->have_avg_ms,
	    w->avg_ms),
	    "min_inference_time_ms", analyzer_opt(w->have_min_ms, w->min_ms),
	    "max_inference_time_ms", analyzer_opt(w->have_max_ms, w->max_ms),
	    "p95_inference_time_ms", analyzer_opt(w->have_p95, w->p95_ms),
	    "sentiment_distribution", dist,
	    "status", status,
	    "time_window_start", w->start,
	    "time_window_end", w->end,
	    "label_distribution", dist));
}

static json_t *
analyzer_opt(int have, double v)
{
	return (have ? json_real(v) : json_null());
}
