/* files.c: see files.h. */
#include "core/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

FILE *lap_open_regular(const char *path, const char *where)
{
    /* O_NONBLOCK: opening a FIFO without a writer returns at once, and fstat
     * then rejects it; for a regular file the flag changes nothing. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        lap_error("%s '%s': cannot open: %s", where, path, strerror(errno));
        return NULL;
    }
    struct stat info;
    int stat_ok = fstat(fd, &info) == 0;
    if (!stat_ok || !S_ISREG(info.st_mode)) {
        int e = errno;
        close(fd);
        if (stat_ok)
            lap_error("%s '%s': not a regular file", where, path);
        else
            lap_error("%s '%s': cannot stat: %s", where, path, strerror(e));
        return NULL;
    }
    int flags = fcntl(fd, F_GETFL);
    FILE *f = flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ? NULL : fdopen(fd, "rb");
    if (!f) {
        lap_error("%s '%s': cannot open: %s", where, path, strerror(errno));
        close(fd);
    }
    return f;
}

void lap_remove_stale_temporaries(const char *target)
{
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    char *dir = !slash ? strdup(".") : slash == target ? strdup("/") : strndup(target, (size_t)(slash - target));
    DIR *d = dir ? opendir(dir) : NULL;
    size_t base_length = strlen(base);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *name = e->d_name;
        if (strncmp(name, base, base_length) != 0 || strncmp(name + base_length, ".tmp.", 5) != 0)
            continue;
        char *end;
        long pid = strtol(name + base_length + 5, &end, 10);
        if (*end || end == name + base_length + 5 || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;   /* its process may still be writing it */
        size_t length = strlen(dir) + strlen(name) + 2;
        char *full = malloc(length);
        if (full) {
            snprintf(full, length, "%s/%s", dir, name);
            unlink(full);
            free(full);
        }
    }
    if (d)
        closedir(d);
    free(dir);
}

char *lap_replace_target(const char *path, const char *where)
{
    struct stat link, target;
    if (lstat(path, &link) != 0) {
        if (errno != ENOENT) {
            lap_error("%s '%s': cannot stat: %s", where, path, strerror(errno));
            return NULL;
        }
        char *copy = strdup(path);   /* a new file */
        if (!copy)
            lap_error("out of memory");
        return copy;
    }
    if (S_ISREG(link.st_mode)) {
        char *copy = strdup(path);
        if (!copy)
            lap_error("out of memory");
        return copy;
    }
    if (S_ISLNK(link.st_mode) && stat(path, &target) == 0 && S_ISREG(target.st_mode)) {
        char *resolved = realpath(path, NULL);
        if (!resolved)
            lap_error("%s '%s': cannot resolve the symlink: %s", where, path, strerror(errno));
        return resolved;
    }
    lap_error("%s '%s': not a regular file (a device, FIFO, directory or dangling symlink): refusing to replace it",
              where, path);
    return NULL;
}
