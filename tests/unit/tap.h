/*
 * tap.h: a tiny Test Anything Protocol emitter for the C unit tests.
 *
 * Every test binary prints "ok N - name" / "not ok N - name" lines and a
 * plan, so `prove` can run the whole directory.  Failures print the got
 * and wanted values as "# " diagnostics.
 */
#ifndef TAP_H
#define TAP_H

#include <stddef.h>

void	tap_plan(int);
int	tap_ok(int, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	tap_is_int(long long, long long, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	tap_is_str(const char *, const char *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	tap_is_double(double, double, double, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
void	tap_diag(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
int	tap_done(void);

#endif
