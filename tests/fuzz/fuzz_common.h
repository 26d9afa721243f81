/* fuzz_common.h: what the libFuzzer targets share (tests/fuzz/fuzz_*.c, `make fuzz`).
 * The readers under test take paths, so each input is written to a file in a
 * private directory (in /dev/shm when there is one) and the reader opens it. */
#ifndef LAP_FUZZ_COMMON_H
#define LAP_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir_path[64];

static void fuzz_remove_dir(void)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", fuzz_dir_path);
    if (system(command) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_path);
}

static const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/lap-fuzz.XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fuzz_dir_path))
            abort();
        atexit(fuzz_remove_dir);
    }
    return fuzz_dir_path;
}

/* Writes data to <fuzz_dir>/<name>; returns the path (a static buffer per name slot). */
static const char *fuzz_file(const char *name, const uint8_t *data, size_t size, int slot)
{
    static char paths[2][128];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(paths[slot], "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    return paths[slot];
}

/* Inputs holding two files: a little-endian 16-bit length, the first file, the
 * second.  Advances *data past the length and returns the first file's size. */
static size_t fuzz_split(const uint8_t **data, size_t *size)
{
    if (*size < 2) {
        *size = 0;
        return 0;
    }
    size_t first = (size_t)(*data)[0] | (size_t)(*data)[1] << 8;
    *data += 2;
    *size -= 2;
    return first < *size ? first : *size;
}

#endif
