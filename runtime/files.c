/* files.c: see files.h. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

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
