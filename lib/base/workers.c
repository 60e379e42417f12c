/* workers.c: a pthread pool running index-parallel loops. */
#include "base/workers.h"
#include "base/hash.h"
#include "base/util.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

struct cdt_workers {
	int n;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	/* The current job. */
	cdt_work_fn fn;
	void *data;
	size_t total, next, finished;
	unsigned long generation;
	int active;	/* threads still inside the current job */
	int quit;
};

struct thread_arg {
	struct cdt_workers *w;
	int index;
};

static void run_items(struct cdt_workers *w, int index)
{
	for (;;) {
		size_t i;

		pthread_mutex_lock(&w->mu);
		if (w->next >= w->total) {
			pthread_mutex_unlock(&w->mu);
			return;
		}
		i = w->next++;
		pthread_mutex_unlock(&w->mu);
		w->fn(i, index, w->data);
		pthread_mutex_lock(&w->mu);
		if (++w->finished == w->total)
			pthread_cond_broadcast(&w->done_cv);
		pthread_mutex_unlock(&w->mu);
	}
}

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	struct cdt_workers *w = a->w;
	int index = a->index;
	unsigned long seen = 0;

	free(a);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->quit && w->generation == seen)
			pthread_cond_wait(&w->work_cv, &w->mu);
		if (w->quit)
			break;
		seen = w->generation;
		w->active++;
		pthread_mutex_unlock(&w->mu);
		run_items(w, index);
		pthread_mutex_lock(&w->mu);
		if (--w->active == 0)
			pthread_cond_broadcast(&w->done_cv);
	}
	pthread_mutex_unlock(&w->mu);
	cdt_hash_thread_cleanup();
	return NULL;
}

struct cdt_workers *cdt_workers_new(int n)
{
	struct cdt_workers *w = xcalloc(1, sizeof(*w));
	sigset_t stop, old;
	int i;

	w->n = n > 0 ? n : 0;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work_cv, NULL);
	pthread_cond_init(&w->done_cv, NULL);
	if (!w->n)
		return w;
	w->threads = xcalloc((size_t)w->n, sizeof(*w->threads));
	/*
	 * Workers never take the signals that stop a command: they are
	 * handled on the thread that creates the temporary files, so the
	 * handler cannot run while another thread is making one.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	for (i = 0; i < w->n; i++) {
		struct thread_arg *a = xmalloc(sizeof(*a));

		a->w = w;
		a->index = i;
		if (pthread_create(&w->threads[i], NULL, thread_main, a))
			die("cannot start worker thread");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return w;
}

void cdt_workers_free(struct cdt_workers *w)
{
	int i;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_broadcast(&w->work_cv);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	free(w->threads);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work_cv);
	pthread_cond_destroy(&w->done_cv);
	free(w);
}

int cdt_workers_count(const struct cdt_workers *w)
{
	return w->n;
}

void cdt_workers_start(struct cdt_workers *w, size_t n, cdt_work_fn fn, void *data)
{
	pthread_mutex_lock(&w->mu);
	w->fn = fn;
	w->data = data;
	w->total = n;
	w->next = 0;
	w->finished = 0;
	if (w->n && n) {
		w->generation++;
		pthread_cond_broadcast(&w->work_cv);
	}
	pthread_mutex_unlock(&w->mu);
}

void cdt_workers_finish(struct cdt_workers *w)
{
	run_items(w, w->n);
	pthread_mutex_lock(&w->mu);
	/* Wait for all items, and for every thread to leave the job. */
	while (w->finished < w->total || w->active)
		pthread_cond_wait(&w->done_cv, &w->mu);
	w->total = 0;
	pthread_mutex_unlock(&w->mu);
}

void cdt_workers_run(struct cdt_workers *w, size_t n, cdt_work_fn fn, void *data)
{
	size_t i;

	if (!n)
		return;
	if (!w->n || n == 1) {
		for (i = 0; i < n; i++)
			fn(i, w->n, data);
		return;
	}
	cdt_workers_start(w, n, fn, data);
	cdt_workers_finish(w);
}

int cdt_online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}
