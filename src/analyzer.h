/*
 * analyzer.h: performance analysis of the model, without Kore.
 *
 * The inputs are two windows of statistics and the thresholds (from
 * app.analyze_inputs()).  From them: the canonical string the cache key
 * is made of, the prompt and response schema for Gemini, the validation
 * of Gemini's report, the rule-based report used when Gemini is not
 * available, and the report the client receives.  libc + jansson only.
 */
#ifndef ANALYZER_H
#define ANALYZER_H

#include <stddef.h>

#include <jansson.h>

/* Part of the cache key: a new prompt never reuses an old answer. */
#define ANALYZER_PROMPT_VERSION		"perf-v1"
#define ANALYZER_MIN_PREDICTIONS	5
#define ANALYZER_NAME_MAX		64
#define ANALYZER_TIME_MAX		32

/* One window's statistics; a missing (NULL) value has its have_ flag 0. */
struct analyzer_window {
	long long	total;
	double		avg_confidence;
	double		avg_ms;
	double		min_ms;
	double		max_ms;
	double		p95_ms;
	int		have_confidence;
	int		have_avg_ms;
	int		have_min_ms;
	int		have_max_ms;
	int		have_p95;
	long long	positive;
	long long	negative;
	long long	neutral;
	char		start[ANALYZER_TIME_MAX];
	char		end[ANALYZER_TIME_MAX];
};

struct analyzer_thresholds {
	char		model_name[ANALYZER_NAME_MAX];	/* the row used */
	double		confidence_warning;	/* avg <= this: warning */
	double		confidence_critical;
	double		p95_warning_ms;		/* p95 >= this: warning */
	double		p95_critical_ms;
};

/*
 * A candidate model version against its baseline over the current window
 * (the request's candidate_version); have 0 when not asked.
 */
#define ANALYZER_VERSION_MAX	32

struct analyzer_comparison {
	int			have;
	char			candidate_version[ANALYZER_VERSION_MAX];
	char			baseline_version[ANALYZER_VERSION_MAX];
	struct analyzer_window	candidate;
	struct analyzer_window	baseline;
	long long		pairs;		/* shadowed inputs */
	double			agreement;	/* label agreement on them */
	int			have_agreement;
};

/* model_name "" means every model. */
struct analyzer_inputs {
	int				window_minutes;
	char				model_name[ANALYZER_NAME_MAX];
	char				status[16];	/* by the thresholds */
	struct analyzer_window		cur;
	struct analyzer_window		prev;
	struct analyzer_thresholds	thr;
	struct analyzer_comparison	cmp;
};

/* Current against previous; have_ 0 when there is no baseline. */
struct analyzer_changes {
	double		confidence_pct;
	double		p95_pct;
	double		volume_pct;
	double		label_tvd;	/* total variation distance, 0..1 */
	int		have_confidence;
	int		have_p95;
	int		have_volume;
	int		have_tvd;
};

int	analyzer_inputs_parse(const json_t *, struct analyzer_inputs *,
	    char *, size_t);
void	analyzer_changes(const struct analyzer_inputs *,
	    struct analyzer_changes *);
double	analyzer_round_sig(double, int);
char	*analyzer_cache_input(const struct analyzer_inputs *, const char *,
	    double, int);
char	*analyzer_prompt(const struct analyzer_inputs *);
json_t	*analyzer_response_schema(void);
json_t	*analyzer_report_parse(const char *, size_t, char *, size_t);
json_t	*analyzer_rules(const struct analyzer_inputs *);
json_t	*analyzer_report(const json_t *, const struct analyzer_inputs *,
	    const char *, const char *, int, const char *, const char *);

#endif
