/*
 * tap.c: see tap.h.  Plain stdio, no allocation.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"

static int	tap_planned = -1;
static int	tap_count;
static int	tap_failed;

static int	tap_vresult(int, const char *, va_list);

void
tap_plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
}

int
tap_ok(int cond, const char *fmt, ...)
{
	va_list		ap;
	int		r;

	va_start(ap, fmt);
	r = tap_vresult(cond, fmt, ap);
	va_end(ap);
	return (r);
}

int
tap_is_int(long long got, long long want, const char *fmt, ...)
{
	va_list		ap;
	int		r;

	va_start(ap, fmt);
	r = tap_vresult(got == want, fmt, ap);
	va_end(ap);
	if (!r)
		tap_diag("got %lld, want %lld", got, want);
	return (r);
}

int
tap_is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list		ap;
	int		r, same;

	if (got == NULL || want == NULL)
		same = (got == want);
	else
		same = (strcmp(got, want) == 0);

	va_start(ap, fmt);
	r = tap_vresult(same, fmt, ap);
	va_end(ap);
	if (!r) {
		tap_diag("got  '%s'", got != NULL ? got : "(null)");
		tap_diag("want '%s'", want != NULL ? want : "(null)");
	}
	return (r);
}

int
tap_is_double(double got, double want, double eps, const char *fmt, ...)
{
	va_list		ap;
	int		r;

	va_start(ap, fmt);
	r = tap_vresult(fabs(got - want) <= eps, fmt, ap);
	va_end(ap);
	if (!r)
		tap_diag("got %.6f, want %.6f (+/- %g)", got, want, eps);
	return (r);
}

void
tap_diag(const char *fmt, ...)
{
	va_list		ap;

	fflush(stdout);
	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* Prints the plan when none was given; returns the process exit status. */
int
tap_done(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_count);
	else if (tap_planned != tap_count)
		tap_diag("planned %d tests but ran %d", tap_planned, tap_count);
	fflush(stdout);
	if (tap_failed > 0 || (tap_planned >= 0 && tap_planned != tap_count))
		return (1);
	return (0);
}

static int
tap_vresult(int cond, const char *fmt, va_list ap)
{
	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	return (cond != 0);
}
