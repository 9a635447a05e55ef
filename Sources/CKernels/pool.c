// A fork-join pool for splitting one operator over the cores at batch 1, where an operator takes
// 10–300 µs and a GCD hand-off (a parked worker woken through the kernel) costs a good part of
// that. The workers spin for a short while after each job, so the next operator's parts start
// within a cache-line transfer, then sleep on a condition variable. Parts are claimed one at a
// time by the caller and the workers alike, so a worker that wakes late only takes what is left.
#include "ckernels.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define MAX_WORKERS 63

// The job and its claim counter: `state` is (generation << 32) | next unclaimed part, so a worker
// can only claim a part of the job whose generation it read the fields of.
static _Atomic uint64_t state;
static _Atomic(shrink_part_fn) job_fn;
static _Atomic(void *) job_ctx;
static _Atomic long job_parts;
static _Atomic long job_done;

static pthread_mutex_t caller_lock = PTHREAD_MUTEX_INITIALIZER;  // one job at a time
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static _Atomic int sleepers;
static _Atomic int started;  // workers started so far
static _Atomic long spin_ns = 200000;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// Claims and runs parts of generation `gen` until none is left. Returns how many it ran.
static long run_parts(uint32_t gen) {
    long ran = 0;
    for (;;) {
        uint64_t s = atomic_load_explicit(&state, memory_order_acquire);
        if ((uint32_t)(s >> 32) != gen) return ran;
        shrink_part_fn fn = atomic_load_explicit(&job_fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&job_ctx, memory_order_relaxed);
        long parts = atomic_load_explicit(&job_parts, memory_order_relaxed);
        long next = (long)(uint32_t)s;
        if (next >= parts) return ran;
        if (!atomic_compare_exchange_weak_explicit(&state, &s, s + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        fn(ctx, next);
        atomic_fetch_add_explicit(&job_done, 1, memory_order_acq_rel);
        ran++;
    }
}

static void *worker_main(void *unused) {
    (void)unused;
    uint32_t seen = (uint32_t)(atomic_load(&state) >> 32);
    for (;;) {
        // Spin for a new generation, then sleep until one is published.
        uint64_t deadline = now_ns() + (uint64_t)atomic_load_explicit(&spin_ns, memory_order_relaxed);
        uint32_t gen = seen;
        for (long i = 0;; i++) {
            gen = (uint32_t)(atomic_load_explicit(&state, memory_order_acquire) >> 32);
            if (gen != seen) break;
            _mm_pause();
            if ((i & 63) == 63 && now_ns() > deadline) {
                pthread_mutex_lock(&sleep_lock);
                atomic_fetch_add(&sleepers, 1);
                while ((gen = (uint32_t)(atomic_load(&state) >> 32)) == seen) pthread_cond_wait(&sleep_cond, &sleep_lock);
                atomic_fetch_sub(&sleepers, 1);
                pthread_mutex_unlock(&sleep_lock);
                break;
            }
        }
        seen = gen;
        run_parts(gen);
    }
    return NULL;
}

static void ensure_workers(int count) {
    if (count > MAX_WORKERS) count = MAX_WORKERS;
    while (atomic_load(&started) < count) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int ok = pthread_create(&t, &attr, worker_main, NULL) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) return;  // fewer workers: the caller runs the remaining parts itself
        atomic_fetch_add(&started, 1);
    }
}

void shrink_pool_set_spin(long nanoseconds) { atomic_store(&spin_ns, nanoseconds < 0 ? 0 : nanoseconds); }

void shrink_pool_run(long parts, int workers, shrink_part_fn fn, void *ctx) {
    if (parts <= 0) return;
    if (parts == 1 || workers <= 0 || pthread_mutex_trylock(&caller_lock) != 0) {
        // One part, no helpers asked for, or the pool is busy (another session, or a part that
        // itself splits): the caller runs every part.
        for (long p = 0; p < parts; p++) fn(ctx, p);
        return;
    }
    ensure_workers(workers);
    atomic_store_explicit(&job_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&job_ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&job_parts, parts, memory_order_relaxed);
    atomic_store(&job_done, 0);
    const uint32_t gen = (uint32_t)(atomic_load(&state) >> 32) + 1;
    atomic_store(&state, (uint64_t)gen << 32);  // seq_cst: ordered before the sleepers check
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&sleep_cond);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_parts(gen);
    // A worker still running a part: wait for it, yielding now and then in case the scheduler
    // put it on this core (then spinning here would only delay it).
    for (long i = 1; atomic_load_explicit(&job_done, memory_order_acquire) < parts; i++) {
        _mm_pause();
        if ((i & 255) == 0) sched_yield();
    }
    pthread_mutex_unlock(&caller_lock);
}

// MARK: allocator

#include <malloc.h>

int shrink_keep_heap_memory(long mmap_threshold, long trim_threshold) {
    return mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, (int)trim_threshold) == 1;
}
