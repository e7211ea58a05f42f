/*
 * shim.c: an LD_PRELOAD library for the valgrind run only
 * (tests/valgrind/run.sh); never part of the server.
 *
 * dlclose() does nothing: Kore unloads our module when a process exits,
 * and valgrind then can neither name the module's functions in a report
 * ("???") nor see the module's globals, so everything they point to
 * (the model, the configuration) would show as definitely lost.
 *
 * Kore's seccomp filter gets in valgrind's way twice:
 * - it refuses mmap() with PROT_WRITE | PROT_EXEC and mprotect() with
 *   PROT_EXEC, answering EINVAL (src/seccomp.c in Kore 4.1).  Valgrind
 *   maps its code cache that way, so every worker dies at once ("aspacem
 *   out_of_memory").  These are errno rules, which seccomp_tracing does
 *   not see;
 * - valgrind itself calls gettid(), rt_sigtimedwait(), time() and, with
 *   threads (the Gemini tasks), sched_yield(), which the filter does not
 *   list (found with seccomp_tracing, which logs and
 *   lets violations through, and in dmesg's audit lines, type=1326; but
 *   valgrind under the parent's ptrace asserts in its scheduler when the
 *   worker exits, before the leak check, so tracing cannot stay on for
 *   the run).
 *
 * So this library wraps prctl(): when Kore installs its filter
 * (PR_SET_SECCOMP, SECCOMP_MODE_FILTER) it installs a copy that first
 * allows the system calls in valgrind_calls[], and in which every "return
 * EINVAL" is "allow" (only Kore's W^X rules return EINVAL).  Everything
 * else, our module's rules included, is installed as it is: any other
 * system call outside the filter still kills the worker, and the test's
 * log check reports it.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Valgrind's own calls (its scheduler and signal handling). */
static const unsigned int	valgrind_calls[] = {
	SYS_gettid,
	SYS_rt_sigtimedwait,
	SYS_time,
	SYS_sched_yield,
	SYS_tgkill,
	SYS_tkill,
};

#define NCALLS	(sizeof(valgrind_calls) / sizeof(valgrind_calls[0]))

int	prctl(int, ...);
int	dlclose(void *);

int
prctl(int option, ...)
{
	struct sock_fprog	*prog, copy;
	struct sock_filter	*f;
	unsigned long		 a2, a3, a4, a5;
	size_t			 i, n, pre;
	va_list			 ap;
	int			 ret;

	va_start(ap, option);
	a2 = va_arg(ap, unsigned long);
	a3 = va_arg(ap, unsigned long);
	a4 = va_arg(ap, unsigned long);
	a5 = va_arg(ap, unsigned long);
	va_end(ap);

	if (option != PR_SET_SECCOMP || a2 != SECCOMP_MODE_FILTER || a3 == 0)
		return ((int)syscall(SYS_prctl, option, a2, a3, a4, a5));

	/* load nr; one "equal: allow, else next" pair per call. */
	prog = (struct sock_fprog *)a3;
	pre = 1 + 2 * NCALLS;
	if ((f = calloc(pre + prog->len, sizeof(*f))) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	f[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr));
	for (i = 0; i < NCALLS; i++) {
		f[1 + 2 * i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
		    BPF_K, valgrind_calls[i], 0, 1);
		f[2 + 2 * i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
		    SECCOMP_RET_ALLOW);
	}
	memcpy(f + pre, prog->filter, prog->len * sizeof(*f));
	n = 0;
	for (i = pre; i < pre + prog->len; i++) {
		if (f[i].code == (BPF_RET | BPF_K) &&
		    f[i].k == (SECCOMP_RET_ERRNO | EINVAL)) {
			f[i].k = SECCOMP_RET_ALLOW;
			n++;
		}
	}
	fprintf(stderr, "shim: seccomp filter of %u instructions; for "
	    "valgrind %zu EINVAL (W^X) rules allowed and %zu calls added\n",
	    prog->len, n, NCALLS);
	copy.len = (unsigned short)(pre + prog->len);
	copy.filter = f;
	ret = (int)syscall(SYS_prctl, option, a2, (unsigned long)&copy, a4,
	    a5);
	free(f);
	return (ret);
}

/* Keeps every library mapped until the process exits. */
int
dlclose(void *handle)
{
	(void)handle;
	return (0);
}
