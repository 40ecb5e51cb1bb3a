/* Shared by the fuzz targets: the libFuzzer entry point's prototype, an
 * invariant check that stops the run with a message (a finding), and a
 * splitter that cuts the input into NUL-terminated fields. */
#ifndef LK_FUZZ_H
#define LK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the function under test: its failure is a finding. */
#define FUZZ_CHECK(cond, ...)                                                                                          \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);                               \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* Up to max fields of data, cut at sep; each copied into its own heap block
 * of exactly its length plus NUL (so ASan sees overreads). Returns the count;
 * the last field takes the rest. Free with fuzz_fields_free. */
static inline size_t fuzz_fields(const uint8_t *data, size_t size, char sep, char **out, size_t *lens, size_t max)
{
    size_t n = 0, i = 0;
    while (n < max) {
        size_t end = i;
        if (n + 1 < max)
            while (end < size && data[end] != (uint8_t)sep)
                end++;
        else
            end = size;
        char *f = malloc(end - i + 1);
        if (!f)
            abort();
        if (end > i)
            memcpy(f, data + i, end - i);
        f[end - i] = '\0';
        out[n] = f;
        if (lens)
            lens[n] = end - i;
        n++;
        if (end >= size)
            break;
        i = end + 1;
    }
    return n;
}

static inline void fuzz_fields_free(char **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i]);
}

/* A heap copy of data plus NUL. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
